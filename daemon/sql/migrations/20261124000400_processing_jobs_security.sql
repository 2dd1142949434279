-- Who may do what (CONTRACT.md): admins insert, read every job, and update status (to queued
-- or cancelled, enforced by the status trigger), options and priority. Nobody else (anon,
-- other signed-in users) reads or writes jobs. The daemon is service_role, which bypasses RLS.
-- Supabase grants every new table in public to anon and authenticated: RLS and the column
-- privileges below are what protect this one. Safe to apply more than once.

alter table public.processing_jobs enable row level security;

revoke all on table public.processing_jobs from public, anon, authenticated;
grant select on table public.processing_jobs to authenticated;
grant insert (vehicle_id, source_bucket, source_path, options, priority, max_attempts)
  on table public.processing_jobs to authenticated;
grant update (status, options, priority) on table public.processing_jobs to authenticated;
grant all on table public.processing_jobs to service_role;

-- (select ...) lets the planner evaluate the check once per statement, not once per row.
drop policy if exists processing_jobs_admin_select on public.processing_jobs;
create policy processing_jobs_admin_select on public.processing_jobs
  for select to authenticated
  using ((select public.is_processing_admin()));

drop policy if exists processing_jobs_admin_insert on public.processing_jobs;
create policy processing_jobs_admin_insert on public.processing_jobs
  for insert to authenticated
  with check ((select public.is_processing_admin()));

drop policy if exists processing_jobs_admin_update on public.processing_jobs;
create policy processing_jobs_admin_update on public.processing_jobs
  for update to authenticated
  using ((select public.is_processing_admin()))
  with check ((select public.is_processing_admin()));
