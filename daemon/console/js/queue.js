// The queue at a glance: jobs per status and the age of the oldest queued one (by updated_at,
// as `python -m daemon status` counts it). Any change to any job is a hint to count again, at
// most twice a second; the age ticks on its own in between.
import { supabase } from './client.js';
import { age, byId, h } from './dom.js';

const STATUSES = ['queued', 'processing', 'succeeded', 'failed', 'cancelled'];

export class QueueSummary {
  constructor({ say }) {
    this.say = say;
    this.counts = byId('queue-counts');
    this.oldest = byId('queue-oldest');
    this.oldestAt = null;
    this.pending = null;
    this.channel = null;
    this.ticker = null;
  }

  start() {
    this.channel = supabase
      .channel('queue')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'processing_jobs' }, () => this.soon())
      .subscribe((status) => {
        if (status === 'SUBSCRIBED') this.refresh();
      });
    this.ticker = setInterval(() => this.showAge(), 5000);
  }

  async stop() {
    clearInterval(this.ticker);
    clearTimeout(this.pending);
    if (this.channel) await supabase.removeChannel(this.channel);
    this.channel = null;
  }

  soon() {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, 500);
  }

  async refresh() {
    const counted = await Promise.all(
      STATUSES.map((status) =>
        supabase.from('processing_jobs').select('id', { count: 'exact', head: true }).eq('status', status)),
    );
    const failed = counted.find((answer) => answer.error);
    if (failed) {
      this.say(`Could not count the queue: ${failed.error.message}`);
      return;
    }
    this.counts.replaceChildren(
      ...STATUSES.map((status, i) =>
        h('div', { class: `count status-${status}`, 'data-status': status },
          h('dt', {}, status), h('dd', {}, String(counted[i].count ?? 0)))),
    );
    const { data } = await supabase
      .from('processing_jobs')
      .select('updated_at')
      .eq('status', 'queued')
      .order('updated_at', { ascending: true })
      .limit(1);
    this.oldestAt = data?.[0] ? Date.parse(data[0].updated_at) : null;
    this.showAge();
  }

  showAge() {
    this.oldest.textContent = this.oldestAt === null
      ? 'Nothing is waiting.'
      : `Oldest queued: ${age(Math.max(0, (Date.now() - this.oldestAt) / 1000))}.`;
  }
}
