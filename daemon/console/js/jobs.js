// The live list of one vehicle's jobs. Realtime is a hint: at every (re)subscribe the rows are
// read again, because changes sent while the socket was down are lost; a change older than the
// row shown (by updated_at) is ignored, so a late hint never rolls the page back.
import { supabase } from './client.js';
import { byId, h } from './dom.js';
import { displayName } from './upload.js';

/** "1 photo", "3 photos". */
function photos(n) {
  return n === 1 ? '1 photo' : `${n} photos`;
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const LIVE_STATES = {
  SUBSCRIBED: 'Live: changes appear as the daemon makes them.',
  CHANNEL_ERROR: 'Reconnecting to live updates…',
  TIMED_OUT: 'Reconnecting to live updates…',
  CLOSED: 'Live updates are off.',
};

/** The options of a job after "reprocess with": '' keeps them, '-' drops the preset. */
export function withPreset(options, choice) {
  const next = { ...(options ?? {}) };
  if (choice === '-') delete next.preset;
  else if (choice) next.preset = choice;
  return next;
}

function errorSentence(error) {
  if (!error) return '';
  return error.message || 'The job failed.';
}

export class VehicleJobs {
  constructor(vehicleId, { reprocessChoice, say }) {
    this.vehicleId = vehicleId;
    this.reprocessChoice = reprocessChoice; // () => '' | '-' | preset name
    this.say = say;
    this.rows = new Map(); // id -> row
    this.originals = new Map(); // source_path -> object URL (downloaded once)
    this.list = byId('jobs');
    this.live = byId('live');
    this.subscribes = 0;
    this.channel = null;
  }

  start() {
    // A topic of its own: a vehicle opened again must not get the channel being torn down
    // (supabase-js hands back an existing channel of the same topic).
    VehicleJobs.opened = (VehicleJobs.opened ?? 0) + 1;
    this.list.replaceChildren();
    this.channel = supabase
      .channel(`vehicle:${this.vehicleId}:${VehicleJobs.opened}`)
      .on(
        'postgres_changes',
        { event: '*', schema: 'public', table: 'processing_jobs', filter: `vehicle_id=eq.${this.vehicleId}` },
        (change) => this.hint(change),
      )
      .subscribe((status) => {
        this.live.textContent = LIVE_STATES[status] ?? status;
        this.live.dataset.state = status;
        if (status === 'SUBSCRIBED') {
          this.subscribes += 1;
          this.live.dataset.subscribes = String(this.subscribes);
          this.reload();
        }
      });
  }

  async stop() {
    if (this.channel) await supabase.removeChannel(this.channel);
    this.channel = null;
    for (const url of this.originals.values()) URL.revokeObjectURL(url);
    this.originals.clear();
  }

  /** Read every job of the vehicle again (after each subscribe, and after an action). */
  async reload() {
    const { data, error } = await supabase
      .from('processing_jobs')
      .select('*')
      .eq('vehicle_id', this.vehicleId)
      .order('created_at', { ascending: true });
    if (error) {
      this.say(`Could not read the jobs: ${error.message}`);
      return;
    }
    for (const row of data) this.apply(row);
    this.live.dataset.reloads = String(Number(this.live.dataset.reloads ?? 0) + 1);
  }

  hint(change) {
    if (change.eventType === 'DELETE') {
      const id = change.old?.id;
      this.rows.delete(id);
      this.list.querySelector(`[data-job-id="${CSS.escape(String(id))}"]`)?.remove();
      return;
    }
    // A row over Realtime's size limit arrives trimmed (errors set): read it whole.
    if (change.errors) this.reloadOne(change.new.id);
    else this.apply(change.new);
  }

  async reloadOne(id) {
    const { data } = await supabase.from('processing_jobs').select('*').eq('id', id);
    if (data?.[0]) this.apply(data[0]);
  }

  apply(row) {
    const shown = this.rows.get(row.id);
    if (shown && Date.parse(row.updated_at) < Date.parse(shown.updated_at)) return;
    this.rows.set(row.id, row);
    const card = this.render(row);
    const old = this.list.querySelector(`[data-job-id="${CSS.escape(row.id)}"]`);
    if (old) old.replaceWith(card);
    else this.list.append(card);
  }

  render(row) {
    const name = displayName(row.source_path);
    const original = h('img', { alt: `Original of ${name}`, loading: 'lazy' });
    // A file the browser cannot draw (a broken upload, say) gets a sentence, not a torn icon.
    original.addEventListener('error', () => original.replaceWith(
      h('div', { class: 'placeholder' }, 'This browser cannot show the original.')));
    this.original(row.source_bucket, row.source_path).then((url) => {
      if (url) original.src = url;
    });
    const variants = row.status === 'succeeded' ? (row.result?.variants ?? {}) : {};
    const shown = variants.detail ?? variants.processed ?? Object.values(variants)[0];
    const processed = shown
      ? h('img', { alt: `Processed ${name}`, src: shown.url, class: 'processed', loading: 'lazy' })
      : h('div', { class: 'placeholder' }, row.status === 'succeeded' ? 'No variant' : 'Not processed yet');
    const progressId = `progress-${row.id}`;
    const actions = [];
    const busy = row.status === 'queued' || row.status === 'processing';
    if (busy) {
      actions.push(h('button', { type: 'button', class: 'quiet', 'aria-label': `Cancel ${name}`, onclick: () => this.cancel(row) }, 'Cancel'));
    }
    if (row.status === 'failed') {
      actions.push(h('button', { type: 'button', 'aria-label': `Retry ${name}`, onclick: () => this.retry(row) }, 'Retry'));
    }
    if (!busy) {
      actions.push(h('button', { type: 'button', 'aria-label': `Reprocess ${name}`, onclick: () => this.reprocess(row) }, 'Reprocess'));
    }
    const preset = row.options?.preset;
    return h(
      'li',
      { class: 'job', 'data-job-id': row.id, 'data-status': row.status, 'data-stage': row.stage ?? '' },
      h('h3', {}, name),
      h('div', { class: 'pair' },
        h('figure', {}, original, h('figcaption', {}, 'Original')),
        h('figure', {}, processed, h('figcaption', {}, shown ? `Processed (${shown.width}×${shown.height})` : 'Processed'))),
      h('p', { class: 'state' },
        h('span', { class: `status status-${row.status}` }, row.status),
        row.stage && !FINAL.has(row.status) ? h('span', { class: 'stage' }, row.stage.replaceAll('_', ' ')) : null,
        preset ? h('span', { class: 'tag' }, `preset ${preset}`) : null,
        h('span', { class: 'meta' }, `revision ${row.revision}, attempt ${row.attempts}`)),
      h('label', { for: progressId, class: 'visually-hidden' }, `Progress of ${name}`),
      h('progress', { id: progressId, max: 100, value: row.progress ?? 0 }, `${row.progress ?? 0} %`),
      row.status === 'failed' && row.error
        ? h('p', { class: 'error', role: 'alert' },
            h('code', {}, row.error.code), ' ', errorSentence(row.error))
        : null,
      h('div', { class: 'row' }, actions),
    );
  }

  /** An object URL of a private original, downloaded with the admin's session. */
  async original(bucket, path) {
    if (this.originals.has(path)) return this.originals.get(path);
    const { data, error } = await supabase.storage.from(bucket).download(path);
    if (error || !data) return null;
    const url = URL.createObjectURL(data);
    this.originals.set(path, url);
    return url;
  }

  remember(path, file) {
    // The file just uploaded is the original: no need to download it again.
    if (!this.originals.has(path)) this.originals.set(path, URL.createObjectURL(file));
  }

  async update(values, filter, done) {
    let query = supabase.from('processing_jobs').update(values);
    for (const [column, value] of Object.entries(filter)) query = query.eq(column, value);
    const { data, error } = await query.select();
    if (error) {
      this.say(`Could not change the job: ${error.message}`);
      return;
    }
    for (const row of data) this.apply(row);
    this.say(done(data.length));
  }

  cancel(row) {
    return this.update({ status: 'cancelled' }, { id: row.id }, () => `Cancelled ${displayName(row.source_path)}.`);
  }

  retry(row) {
    return this.update({ status: 'queued' }, { id: row.id }, () => `Queued ${displayName(row.source_path)} again.`);
  }

  reprocess(row) {
    const choice = this.reprocessChoice();
    const values = choice ? { status: 'queued', options: withPreset(row.options, choice) } : { status: 'queued' };
    return this.update(values, { id: row.id }, () => `Queued ${displayName(row.source_path)} for reprocessing.`);
  }

  /** Every photo of the vehicle again: one statement for "same options", else one per photo
   * (each keeps its own options; only the preset changes). */
  async reprocessAll() {
    const choice = this.reprocessChoice();
    if (!choice) {
      return this.update({ status: 'queued' }, { vehicle_id: this.vehicleId }, (n) => `Queued ${photos(n)} for reprocessing.`);
    }
    let count = 0;
    for (const row of this.rows.values()) {
      const { data, error } = await supabase
        .from('processing_jobs')
        .update({ status: 'queued', options: withPreset(row.options, choice) })
        .eq('id', row.id)
        .select();
      if (error) {
        this.say(`Could not requeue ${displayName(row.source_path)}: ${error.message}`);
        return;
      }
      for (const updated of data) this.apply(updated);
      count += data.length;
    }
    const how = choice === '-' ? 'without a preset' : `with preset ${choice}`;
    this.say(`Queued ${photos(count)} for reprocessing ${how}.`);
  }

  retryFailed() {
    return this.update({ status: 'queued' }, { vehicle_id: this.vehicleId, status: 'failed' }, (n) => (n ? `Queued ${photos(n)} that failed again.` : 'Nothing has failed.'));
  }
}
