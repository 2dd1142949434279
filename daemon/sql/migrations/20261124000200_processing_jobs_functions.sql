-- The state machine (CONTRACT.md section 2). The daemon changes jobs only through these
-- functions; every write after the claim is fenced by the claim's lease_token, so a worker
-- that lost its job (rescued, requeued, cancelled) changes nothing.
-- The functions mark their own writes with the transaction-local setting
-- processing_jobs.internal, which the status trigger (next migration) lets through.
-- Safe to apply more than once.

-- Who is an admin. A project may replace this function with its own rule: re-applying this
-- migration keeps an existing definition.
do $do$
begin
  if to_regprocedure('public.is_processing_admin()') is null then
    create function public.is_processing_admin() returns boolean
    language sql stable
    set search_path = ''
    as $$
      select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
    $$;
  end if;
end
$do$;

comment on function public.is_processing_admin() is
  'True when the request''s JWT carries app_metadata.role = admin. Replace it to change the rule.';

-- Backoff before retry number `attempt` + 1: about 10 s, 20 s, 40 s ... capped at 15 min,
-- with +-20 % jitter so jobs that failed together do not come back together.
create or replace function public.processing_jobs_retry_delay(attempt integer) returns interval
language sql volatile
set search_path = ''
as $$
  select make_interval(secs => least(
    900.0,
    least(900.0, 10.0 * power(2.0, greatest(least(attempt, 20), 1) - 1)) * (0.8 + random() * 0.4)
  ))
$$;

create or replace function public.claim_processing_jobs(
  worker_id text,
  max_jobs integer default 1,
  lease_seconds integer default 60
) returns setof public.processing_jobs
language plpgsql volatile
set search_path = ''
as $$
begin
  if worker_id is null or length(worker_id) not between 1 and 200 then
    raise exception 'worker_id must be a non-empty text of at most 200 characters'
      using errcode = '22023';
  end if;
  if max_jobs is null or max_jobs not between 1 and 1000 then
    raise exception 'max_jobs must be between 1 and 1000' using errcode = '22023';
  end if;
  if lease_seconds is null or lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;
  perform set_config('processing_jobs.internal', 'on', true);

  -- Jobs whose worker died with no attempts left: failed, not handed out again.
  update public.processing_jobs j
  set status = 'failed',
      error = jsonb_build_object(
        'code', 'lease_expired',
        'message', 'The worker processing this photo stopped responding and no attempts are left; requeue it to try again.',
        'retryable', false,
        'attempt', j.attempts,
        'at', now()),
      finished_at = now(),
      locked_by = null,
      lease_token = null,
      lease_expires_at = null
  where j.id in (
    select e.id from public.processing_jobs e
    where e.status = 'processing' and e.lease_expires_at < now() and e.attempts >= e.max_attempts
    for update skip locked);

  -- The LIMIT ... FOR UPDATE SKIP LOCKED stays inside subqueries, so the update touches at
  -- most max_jobs rows and two claimers never get the same one.
  return query
  with rescued as (
    select r.id, r.priority, r.run_after, r.created_at
    from public.processing_jobs r
    where r.status = 'processing' and r.lease_expires_at < now() and r.attempts < r.max_attempts
    order by r.priority desc, r.run_after, r.created_at
    limit max_jobs
    for update skip locked
  ), ready as (
    select q.id, q.priority, q.run_after, q.created_at
    from public.processing_jobs q
    where q.status = 'queued' and q.run_after <= now()
    order by q.priority desc, q.run_after, q.created_at
    limit max_jobs
    for update skip locked
  ), picked as (
    select c.id, c.id in (select rescued.id from rescued) as was_rescued
    from (select * from rescued union all select * from ready) c
    order by c.priority desc, c.run_after, c.created_at
    limit max_jobs
  )
  update public.processing_jobs j
  set status = 'processing',
      locked_by = claim_processing_jobs.worker_id,
      lease_token = gen_random_uuid(),
      lease_expires_at = now() + make_interval(secs => claim_processing_jobs.lease_seconds),
      attempts = j.attempts + 1,
      started_at = now(),
      stage = 'claimed',
      progress = 0,
      error = case when picked.was_rescued then jsonb_build_object(
        'code', 'lease_expired',
        'message', 'The previous worker stopped responding; the photo is being processed again.',
        'retryable', true,
        'attempt', j.attempts,
        'at', now()) else j.error end
  from picked
  where j.id = picked.id
  returning j.*;

  perform set_config('processing_jobs.internal', 'off', true);
end
$$;

create or replace function public.heartbeat_processing_job(
  job_id uuid,
  lease_token uuid,
  lease_seconds integer default 60,
  stage text default null,
  progress integer default null
) returns boolean
language plpgsql volatile
set search_path = ''
as $$
declare
  _found boolean;
begin
  if lease_seconds is null or lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;
  if progress is not null and progress not between 0 and 100 then
    raise exception 'progress must be between 0 and 100' using errcode = '22023';
  end if;
  if stage is not null and stage !~ '^[a-z][a-z_]{0,39}$' then
    raise exception 'stage must be a lower-case name such as downloading' using errcode = '22023';
  end if;
  perform set_config('processing_jobs.internal', 'on', true);
  update public.processing_jobs j
  set lease_expires_at = now() + make_interval(secs => heartbeat_processing_job.lease_seconds),
      stage = coalesce(heartbeat_processing_job.stage, j.stage),
      progress = coalesce(heartbeat_processing_job.progress, j.progress)
  where j.id = heartbeat_processing_job.job_id
    and j.status = 'processing'
    and j.lease_token = heartbeat_processing_job.lease_token;
  _found := found;
  perform set_config('processing_jobs.internal', 'off', true);
  return _found;
end
$$;

create or replace function public.complete_processing_job(
  job_id uuid,
  lease_token uuid,
  result jsonb
) returns boolean
language plpgsql volatile
set search_path = ''
as $$
declare
  _found boolean;
begin
  if result is null or jsonb_typeof(result) <> 'object' then
    raise exception 'result must be a JSON object' using errcode = '22023';
  end if;
  perform set_config('processing_jobs.internal', 'on', true);
  update public.processing_jobs j
  set status = 'succeeded',
      result = complete_processing_job.result,
      error = null,
      locked_by = null,
      lease_token = null,
      lease_expires_at = null,
      stage = 'done',
      progress = 100,
      finished_at = now()
  where j.id = complete_processing_job.job_id
    and j.status = 'processing'
    and j.lease_token = complete_processing_job.lease_token;
  _found := found;
  perform set_config('processing_jobs.internal', 'off', true);
  return _found;
end
$$;

create or replace function public.fail_processing_job(
  job_id uuid,
  lease_token uuid,
  error jsonb,
  retryable boolean default true,
  retry_delay_seconds integer default null
) returns text
language plpgsql volatile
set search_path = ''
as $$
declare
  _job public.processing_jobs;
  _error jsonb;
  _retry boolean;
begin
  if error is null or jsonb_typeof(error) <> 'object' then
    raise exception 'error must be a JSON object with code and message' using errcode = '22023';
  end if;
  if retry_delay_seconds is not null and retry_delay_seconds not between 0 and 86400 then
    raise exception 'retry_delay_seconds must be between 0 and 86400' using errcode = '22023';
  end if;
  select * into _job from public.processing_jobs j
  where j.id = fail_processing_job.job_id
    and j.status = 'processing'
    and j.lease_token = fail_processing_job.lease_token
  for update;
  if not found then
    return null;
  end if;

  _retry := coalesce(fail_processing_job.retryable, true) and _job.attempts < _job.max_attempts;
  -- The caller's code and message; attempt and time are the database's.
  _error := fail_processing_job.error || jsonb_build_object(
    'code', coalesce(fail_processing_job.error ->> 'code', 'internal_error'),
    'message', coalesce(fail_processing_job.error ->> 'message', 'The photo could not be processed.'),
    'retryable', coalesce(fail_processing_job.retryable, true),
    'attempt', _job.attempts,
    'at', now());

  perform set_config('processing_jobs.internal', 'on', true);
  if _retry then
    update public.processing_jobs j
    set status = 'queued',
        run_after = now() + coalesce(
          make_interval(secs => fail_processing_job.retry_delay_seconds),
          public.processing_jobs_retry_delay(_job.attempts)),
        error = _error,
        locked_by = null,
        lease_token = null,
        lease_expires_at = null,
        progress = 0
    where j.id = _job.id;
  else
    update public.processing_jobs j
    set status = 'failed',
        error = _error,
        locked_by = null,
        lease_token = null,
        lease_expires_at = null,
        finished_at = now()
    where j.id = _job.id;
  end if;
  perform set_config('processing_jobs.internal', 'off', true);
  return case when _retry then 'queued' else 'failed' end;
end
$$;

create or replace function public.release_processing_job(
  job_id uuid,
  lease_token uuid
) returns boolean
language plpgsql volatile
set search_path = ''
as $$
declare
  _found boolean;
begin
  perform set_config('processing_jobs.internal', 'on', true);
  update public.processing_jobs j
  set status = 'queued',
      run_after = now(),
      attempts = greatest(j.attempts - 1, 0),
      locked_by = null,
      lease_token = null,
      lease_expires_at = null,
      stage = null,
      progress = 0
  where j.id = release_processing_job.job_id
    and j.status = 'processing'
    and j.lease_token = release_processing_job.lease_token;
  _found := found;
  perform set_config('processing_jobs.internal', 'off', true);
  return _found;
end
$$;

-- Only the daemon (service_role) may run the state machine. Supabase grants every new function
-- in public to anon and authenticated, and PostgreSQL grants EXECUTE to PUBLIC: take both back.
revoke execute on function
  public.claim_processing_jobs(text, integer, integer),
  public.heartbeat_processing_job(uuid, uuid, integer, text, integer),
  public.complete_processing_job(uuid, uuid, jsonb),
  public.fail_processing_job(uuid, uuid, jsonb, boolean, integer),
  public.release_processing_job(uuid, uuid),
  public.processing_jobs_retry_delay(integer),
  public.processing_jobs_touch()
  from public, anon, authenticated;
grant execute on function
  public.claim_processing_jobs(text, integer, integer),
  public.heartbeat_processing_job(uuid, uuid, integer, text, integer),
  public.complete_processing_job(uuid, uuid, jsonb),
  public.fail_processing_job(uuid, uuid, jsonb, boolean, integer),
  public.release_processing_job(uuid, uuid),
  public.processing_jobs_retry_delay(integer)
  to service_role;

-- RLS policies call is_processing_admin() as the signed-in user; anon has no use for it.
revoke execute on function public.is_processing_admin() from public, anon;
grant execute on function public.is_processing_admin() to authenticated, service_role;
