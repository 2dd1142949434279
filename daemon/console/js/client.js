// The one Supabase client of the page, signed in through supabase.auth: its session token is
// what PostgREST, Storage and Realtime see, and Realtime asks for it again at every (re)join,
// so a reconnect never drops the channel to anon (see the README on `setAuth`).
import { createClient } from '@supabase/supabase-js';
import { SUPABASE_ANON_KEY, SUPABASE_URL, SOURCE_BUCKET } from '../config.js';

export const supabaseUrl = SUPABASE_URL.replace(/\/+$/, '');
export const anonKey = SUPABASE_ANON_KEY;
export const sourceBucket = SOURCE_BUCKET || 'vehicle-photos';

export const supabase = createClient(supabaseUrl, anonKey, {
  auth: { persistSession: true, autoRefreshToken: true },
});

/** The signed-in user's access token, or null. */
export async function accessToken() {
  const { data } = await supabase.auth.getSession();
  return data.session?.access_token ?? null;
}
