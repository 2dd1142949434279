-- Storage: originals (private), processed variants (public: portals and the website link to
-- them), and the background-removal cache (private). Admins may upload originals and read them
-- back (an upload with upsert needs both); the daemon's service key bypasses these policies.
-- Existing buckets are left as the project set them. Safe to apply more than once.

insert into storage.buckets (id, name, public)
values
  ('vehicle-photos', 'vehicle-photos', false),
  ('vehicle-photos-processed', 'vehicle-photos-processed', true),
  ('processing-cache', 'processing-cache', false)
on conflict (id) do nothing;

drop policy if exists "Processing admins upload originals" on storage.objects;
create policy "Processing admins upload originals" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'vehicle-photos' and (select public.is_processing_admin()));

drop policy if exists "Processing admins read originals" on storage.objects;
create policy "Processing admins read originals" on storage.objects
  for select to authenticated
  using (bucket_id = 'vehicle-photos' and (select public.is_processing_admin()));
