-- What plain SQL may do to a job's status, and the wake-ups (CONTRACT.md section 2).
-- Safe to apply more than once.

-- Reprocess and cancel by hand:
--   update processing_jobs set status = 'queued' where ...;     -- from any status
--   update processing_jobs set status = 'cancelled' where ...;  -- queued or processing jobs
-- Any other status change outside the state functions is refused, except for service_role.
create or replace function public.processing_jobs_status_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The state functions' own writes.
  if current_setting('processing_jobs.internal', true) = 'on'
     and current_user not in ('anon', 'authenticated') then
    return new;
  end if;

  if new.status = 'queued' then
    -- A new revision: a fresh start, and the old claim (if any) is fenced off. The last
    -- success's result stays until a newer success replaces it.
    new.revision := old.revision + 1;
    new.attempts := 0;
    new.error := null;
    new.locked_by := null;
    new.lease_token := null;
    new.lease_expires_at := null;
    new.stage := null;
    new.progress := 0;
    new.run_after := now();
    new.started_at := null;
    new.finished_at := null;
    return new;
  end if;

  if new.status = 'cancelled' then
    if old.status in ('queued', 'processing') then
      new.locked_by := null;
      new.lease_token := null;
      new.lease_expires_at := null;
      new.finished_at := now();
    else
      -- Already over (succeeded, failed, cancelled): nothing to cancel, keep it as it is, so
      -- that "cancel everything of this vehicle" does not relabel finished photos.
      new.status := old.status;
      new.finished_at := old.finished_at;
    end if;
    return new;
  end if;

  if new.status is not distinct from old.status then
    return new;
  end if;

  if current_user = 'service_role' then
    return new;
  end if;

  raise exception 'Cannot set processing_jobs.status to %: only queued (reprocess) and cancelled may be set by hand, the daemon sets the others', new.status
    using errcode = '42501',
          hint = 'Use update processing_jobs set status = ''queued'' (or ''cancelled'') where ...';
end
$$;

create or replace trigger processing_jobs_status_change
  before update of status on public.processing_jobs
  for each row execute function public.processing_jobs_status_change();

-- One notification per statement, however many rows it touched, when jobs became claimable
-- (inserted, requeued, released) or cancelled. Listeners treat it as a hint and claim.
create or replace function public.processing_jobs_notify() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _queued bigint;
  _cancelled bigint;
  _cancelled_ids jsonb;
begin
  if tg_op = 'INSERT' then
    select count(*) filter (where n.status = 'queued' and n.run_after <= now()),
           count(*) filter (where n.status = 'cancelled')
      into _queued, _cancelled
      from new_rows n;
    _cancelled_ids := '[]';
  else
    select count(*) filter (where n.status = 'queued' and n.run_after <= now()),
           count(*) filter (where n.status = 'cancelled'),
           -- Small cancels name their jobs so workers can stop them before the next heartbeat.
           coalesce(jsonb_agg(n.id) filter (where n.status = 'cancelled'), '[]')
      into _queued, _cancelled, _cancelled_ids
      from new_rows n
      join old_rows o on o.id = n.id
     where n.status in ('queued', 'cancelled')
       and (n.status is distinct from o.status or n.revision <> o.revision);
  end if;
  if _queued + _cancelled = 0 then
    return null;
  end if;
  perform pg_notify('processing_jobs', jsonb_build_object(
    'status', case when _queued > 0 then 'queued' else 'cancelled' end,
    'op', lower(tg_op),
    'queued', _queued,
    'cancelled', _cancelled,
    'cancelled_ids', case when _cancelled <= 50 then _cancelled_ids else '[]'::jsonb end
  )::text);
  return null;
end
$$;

create or replace trigger processing_jobs_notify_insert
  after insert on public.processing_jobs
  referencing new table as new_rows
  for each statement execute function public.processing_jobs_notify();

create or replace trigger processing_jobs_notify_update
  after update on public.processing_jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.processing_jobs_notify();

revoke execute on function
  public.processing_jobs_status_change(),
  public.processing_jobs_notify()
  from public, anon, authenticated;

-- Realtime: the admin UI follows its jobs, the Supabase backend hears new ones.
do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'processing_jobs'
  ) then
    alter publication supabase_realtime add table public.processing_jobs;
  end if;
end
$$;
