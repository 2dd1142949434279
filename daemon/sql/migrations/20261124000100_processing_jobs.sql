-- The job table (CONTRACT.md section 1): one row per photo to process, with its invariants as
-- CHECK constraints, the indexes the claim uses, and storage settings for rows that churn.
-- Safe to apply more than once.

create table if not exists public.processing_jobs (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  created_by uuid default auth.uid(),
  vehicle_id text,
  source_bucket text not null default 'vehicle-photos',
  source_path text not null,
  options jsonb not null default '{}',
  priority smallint not null default 0,
  status text not null default 'queued',
  stage text,
  progress smallint not null default 0,
  attempts integer not null default 0,
  max_attempts integer not null default 3,
  run_after timestamptz not null default now(),
  locked_by text,
  lease_token uuid,
  lease_expires_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  revision integer not null default 0,
  result jsonb,
  error jsonb,

  constraint processing_jobs_status_check
    check (status in ('queued', 'processing', 'succeeded', 'failed', 'cancelled')),
  -- Stage names are the daemon's; only their shape is pinned here.
  constraint processing_jobs_stage_check check (stage ~ '^[a-z][a-z_]{0,39}$'),
  constraint processing_jobs_progress_check check (progress between 0 and 100),
  constraint processing_jobs_attempts_check check (attempts >= 0),
  constraint processing_jobs_max_attempts_check check (max_attempts between 1 and 100),
  constraint processing_jobs_revision_check check (revision >= 0),
  constraint processing_jobs_source_check
    check (length(source_bucket) between 1 and 100 and length(source_path) between 1 and 1024),
  constraint processing_jobs_vehicle_id_check check (length(vehicle_id) <= 200),
  -- A processing job holds a lease: who, which claim, until when, since when.
  constraint processing_jobs_lease_check check (
    case when status = 'processing'
      then locked_by is not null and lease_token is not null
           and lease_expires_at is not null and started_at is not null
      else locked_by is null and lease_token is null and lease_expires_at is null
    end),
  -- finished_at is set exactly when the revision is over.
  constraint processing_jobs_finished_check
    check ((status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null)),
  constraint processing_jobs_succeeded_check
    check (status <> 'succeeded' or (result is not null and progress = 100)),
  constraint processing_jobs_failed_check check (status <> 'failed' or error is not null),
  constraint processing_jobs_result_check check (jsonb_typeof(result) = 'object'),
  constraint processing_jobs_error_check check (jsonb_typeof(error) = 'object')
);

comment on table public.processing_jobs is
  'Photos to process. Insert to queue; set status = ''queued'' to reprocess, ''cancelled'' to cancel.';

-- Heartbeats and progress rewrite a row every few seconds: leave room on each page so those
-- updates stay HOT (no index touches lease_expires_at, stage, progress or updated_at), and
-- vacuum this table far more eagerly than the default 20 % of dead rows.
alter table public.processing_jobs set (
  fillfactor = 70,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_analyze_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0.05
);

-- The claim: queued jobs in claim order.
create index if not exists processing_jobs_claim_idx
  on public.processing_jobs (priority desc, run_after, created_at)
  where status = 'queued';

-- Rescue of expired leases: the few jobs in flight. lease_expires_at is deliberately not
-- indexed (heartbeats update it); the claim filters these rows on it.
create index if not exists processing_jobs_in_flight_idx
  on public.processing_jobs (priority desc, run_after, created_at)
  where status = 'processing';

-- The admin UI: the photos of one vehicle, the newest jobs, the latest failures.
create index if not exists processing_jobs_vehicle_idx
  on public.processing_jobs (vehicle_id, created_at)
  where vehicle_id is not null;
create index if not exists processing_jobs_created_idx on public.processing_jobs (created_at);
create index if not exists processing_jobs_failed_idx
  on public.processing_jobs (finished_at)
  where status = 'failed';

-- updated_at is the database's, on every change.
create or replace function public.processing_jobs_touch() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create or replace trigger processing_jobs_touch
  before insert or update on public.processing_jobs
  for each row execute function public.processing_jobs_touch();
