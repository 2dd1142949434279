-- Presets (CONTRACT.md section 1b): a dealer's look, named once and used by many jobs through
-- `options.preset`. Admins read and write them; the daemon (service_role) reads them when it
-- claims a job (and, as everywhere, may write them); nobody else sees them. The assets bucket holds the backdrops and logos that
-- presets name. Safe to apply more than once.

create table if not exists public.processing_presets (
  name text primary key,
  options jsonb not null default '{}',
  description text,
  updated_at timestamptz not null default now(),

  constraint processing_presets_name_check check (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  constraint processing_presets_options_check check (jsonb_typeof(options) = 'object'),
  -- A preset is one level deep: naming another preset would make looks depend on each other.
  constraint processing_presets_no_preset_check check (not options ? 'preset'),
  constraint processing_presets_description_check check (length(description) <= 1000)
);

comment on table public.processing_presets is
  'Named processing options. A job with options {"preset": name} gets these first, then its own.';

create or replace function public.processing_presets_touch() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create or replace trigger processing_presets_touch
  before insert or update on public.processing_presets
  for each row execute function public.processing_presets_touch();

alter table public.processing_presets enable row level security;

revoke all on table public.processing_presets from public, anon, authenticated;
grant select, insert, delete on table public.processing_presets to authenticated;
grant update (name, options, description) on table public.processing_presets to authenticated;
grant all on table public.processing_presets to service_role;

drop policy if exists processing_presets_admin_all on public.processing_presets;
create policy processing_presets_admin_all on public.processing_presets
  for all to authenticated
  using ((select public.is_processing_admin()))
  with check ((select public.is_processing_admin()));

-- The assets bucket: backdrops and logos. Private: the daemon reads them with its service key.
insert into storage.buckets (id, name, public)
values ('processing-assets', 'processing-assets', false)
on conflict (id) do nothing;

drop policy if exists "Processing admins upload assets" on storage.objects;
create policy "Processing admins upload assets" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'processing-assets' and (select public.is_processing_admin()));

drop policy if exists "Processing admins read assets" on storage.objects;
create policy "Processing admins read assets" on storage.objects
  for select to authenticated
  using (bucket_id = 'processing-assets' and (select public.is_processing_admin()));

-- Replacing a backdrop under the same path (upsert) needs update and delete too.
drop policy if exists "Processing admins replace assets" on storage.objects;
create policy "Processing admins replace assets" on storage.objects
  for update to authenticated
  using (bucket_id = 'processing-assets' and (select public.is_processing_admin()))
  with check (bucket_id = 'processing-assets' and (select public.is_processing_admin()));

drop policy if exists "Processing admins delete assets" on storage.objects;
create policy "Processing admins delete assets" on storage.objects
  for delete to authenticated
  using (bucket_id = 'processing-assets' and (select public.is_processing_admin()));
