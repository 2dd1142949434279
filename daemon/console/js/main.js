// The console: sign in, then a vehicle's photos, the queue and the presets. Everything the page
// may see or change is decided by row-level security for the signed-in user.
import { supabase, sourceBucket } from './client.js';
import { byId, h, showOnly } from './dom.js';
import { VehicleJobs } from './jobs.js';
import { Presets, fillPresetSelect } from './presets.js';
import { QueueSummary } from './queue.js';
import { objectPath, uploadOriginal } from './upload.js';

const signIn = byId('sign-in');
const notAdmin = byId('not-admin');
const app = byId('app');
const notice = byId('notice');

let shownUser; // id of the user shown (null: nobody), so a token refresh changes nothing
let vehicle = null; // VehicleJobs of the open vehicle
let opened = 0; // vehicles opened so far: the latest open wins a race with an earlier one
let queue = null;
let presets = null;

function say(text) {
  notice.textContent = text;
}

async function isAdmin() {
  // The rule lives in the database: whoever is_processing_admin() says, and nothing else.
  const { data, error } = await supabase.rpc('is_processing_admin');
  if (error) throw new Error(error.message);
  return data === true;
}

async function show(session) {
  const user = session?.user ?? null;
  if ((user?.id ?? null) === shownUser) return;
  shownUser = user?.id ?? null;
  await closeAll();
  byId('who').hidden = !user;
  byId('who-email').textContent = user ? `Signed in as ${user.email}` : '';
  if (!user) {
    showOnly(signIn, notAdmin, app);
    if (document.activeElement === document.body) byId('email').focus();
    return;
  }
  let admin;
  try {
    admin = await isAdmin();
  } catch (error) {
    say(`Could not check who may see the jobs: ${error.message}`);
    return;
  }
  if (!admin) {
    byId('not-admin-text').textContent =
      `You are signed in as ${user.email}, but this account is not a processing admin, so the ` +
      'database shows it no jobs and no presets. Ask whoever runs the project to set ' +
      "app_metadata.role = 'admin' on your user, then sign in again.";
    showOnly(notAdmin, signIn, app);
    return;
  }
  showOnly(app, signIn, notAdmin);
  // The vehicle open before a reload, unless the admin opens one while this is loading.
  const remembered = sessionStorage.getItem('vehicle');
  const openedBefore = opened;
  queue = new QueueSummary({ say });
  queue.start();
  presets = new Presets({ say, onChange: fillSelects });
  await presets.load();
  presets.edit(null, { focus: false });
  if (remembered && opened === openedBefore) openVehicle(remembered);
}

async function closeAll() {
  await vehicle?.stop();
  await queue?.stop();
  vehicle = queue = null;
  byId('vehicle-body').hidden = true;
}

function fillSelects(list) {
  fillPresetSelect(byId('upload-preset'), list, [['', 'No preset']]);
  fillPresetSelect(byId('reprocess-preset'), list, [['', 'the same options'], ['-', 'no preset']]);
}

async function openVehicle(id) {
  const mine = ++opened;
  const previous = vehicle;
  vehicle = null;
  await previous?.stop();
  if (mine !== opened) return; // another vehicle was opened meanwhile
  byId('vehicle-id').value = id;
  sessionStorage.setItem('vehicle', id);
  byId('vehicle-title').textContent = `Vehicle ${id}`;
  byId('uploads').replaceChildren();
  byId('vehicle-body').hidden = false;
  vehicle = new VehicleJobs(id, { reprocessChoice: () => byId('reprocess-preset').value, say });
  vehicle.start();
}

/** Upload each file and queue one job for it, each with its own progress bar. */
async function addPhotos(fileList) {
  const files = [...fileList]; // a copy: the input's FileList empties when the input is reset
  if (!vehicle || !files.length) return;
  const current = vehicle;
  const preset = byId('upload-preset').value;
  await Promise.all(files.map(async (file) => {
    const path = objectPath(current.vehicleId, file.name);
    const bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    const state = h('span', { class: 'meta' }, 'uploading');
    const item = h('li', { 'data-file': file.name }, h('span', {}, file.name), bar, state);
    byId('uploads').append(item);
    try {
      await uploadOriginal(path, file, (fraction) => {
        bar.value = Math.round(fraction * 100);
      });
      current.remember(path, file);
      const { data, error } = await supabase
        .from('processing_jobs')
        .insert({
          vehicle_id: current.vehicleId,
          source_bucket: sourceBucket,
          source_path: path,
          options: preset ? { preset } : {},
        })
        .select()
        .single();
      if (error) throw new Error(`The job was not queued: ${error.message}`);
      current.apply(data);
      state.textContent = 'queued';
      item.dataset.state = 'queued';
    } catch (error) {
      state.textContent = error.message;
      state.className = 'problem';
      item.dataset.state = 'failed';
    }
  }));
  const names = files.map((f) => f.name).join(', ');
  say(`Sent ${files.length === 1 ? 'a photo' : `${files.length} photos`} of ${current.vehicleId}: ${names}.`);
}

function wire() {
  byId('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const problem = byId('sign-in-error');
    problem.textContent = '';
    const { error } = await supabase.auth.signInWithPassword({
      email: byId('email').value,
      password: byId('password').value,
    });
    if (error) problem.textContent = `Not signed in: ${error.message}.`;
  });
  byId('sign-out').addEventListener('click', () => supabase.auth.signOut());
  byId('vehicle-form').addEventListener('submit', (event) => {
    event.preventDefault();
    openVehicle(byId('vehicle-id').value.trim());
  });
  byId('files').addEventListener('change', (event) => {
    addPhotos(event.target.files);
    event.target.value = '';
  });
  const drop = byId('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    addPhotos(event.dataTransfer.files);
  });
  byId('reprocess-vehicle').addEventListener('click', () => vehicle?.reprocessAll());
  byId('retry-failed').addEventListener('click', () => vehicle?.retryFailed());
  // Never await Supabase calls inside the auth callback (auth-js holds its lock there).
  supabase.auth.onAuthStateChange((_event, session) => {
    setTimeout(() => show(session), 0);
  });
}

wire();
