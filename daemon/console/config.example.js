// Copy to config.js when hosting this folder as static files; `python -m daemon console`
// writes its own from SUPABASE_URL and SUPABASE_ANON_KEY. Public values only: the anon key is
// meant for browsers (row-level security guards the data). Never put the service-role key here.
export const SUPABASE_URL = "https://<project-ref>.supabase.co";
export const SUPABASE_ANON_KEY = "<anon key from Project Settings, API>";
export const SOURCE_BUCKET = "vehicle-photos";
