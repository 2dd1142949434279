// processing_presets: list, create and edit, the options checked against the schema as the
// admin types. Row-level security lets admins read and write them and nobody else.
import { supabase } from './client.js';
import { byId, h } from './dom.js';
import { optionsProblems } from './options.js';

export class Presets {
  constructor({ say, onChange }) {
    this.say = say;
    this.onChange = onChange; // (presets) => void: the selects follow the list
    this.items = [];
    this.editing = null; // name of the preset in the form, or null for a new one
    this.list = byId('preset-list');
    this.form = byId('preset-form');
    this.name = byId('preset-name');
    this.description = byId('preset-description');
    this.options = byId('preset-options');
    this.problems = byId('preset-problems');
    this.save = byId('preset-save');
    this.status = byId('preset-status');
    this.title = byId('preset-form-title');
    this.options.addEventListener('input', () => this.check());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    byId('preset-new').addEventListener('click', () => this.edit(null));
  }

  async load() {
    const { data, error } = await supabase.from('processing_presets').select('*').order('name');
    if (error) {
      this.say(`Could not read the presets: ${error.message}`);
      return;
    }
    this.items = data;
    this.list.replaceChildren(
      ...data.map((preset) =>
        h('li', { 'data-preset': preset.name },
          h('div', {},
            h('strong', {}, preset.name),
            preset.description ? h('span', { class: 'meta' }, ` ${preset.description}`) : null),
          h('code', { class: 'options' }, JSON.stringify(preset.options)),
          h('button', { type: 'button', class: 'quiet', 'aria-label': `Edit preset ${preset.name}`, onclick: () => this.edit(preset) }, 'Edit'))),
    );
    if (!data.length) this.list.append(h('li', { class: 'meta' }, 'No presets yet.'));
    this.onChange(data);
  }

  /** Put a preset (or a blank one) in the form; `focus` only when the admin asked for it,
   * never while the page loads (it would take the caret from wherever they are typing). */
  edit(preset, { focus = true } = {}) {
    this.editing = preset?.name ?? null;
    this.title.textContent = preset ? `Edit preset ${preset.name}` : 'New preset';
    this.name.value = preset?.name ?? '';
    this.description.value = preset?.description ?? '';
    this.options.value = JSON.stringify(preset?.options ?? {}, null, 2);
    this.status.textContent = '';
    this.check();
    if (focus) this.name.focus();
  }

  /** Show what is wrong with the options; the save button waits until nothing is. */
  async check() {
    const problems = await optionsProblems(this.options.value);
    this.problems.replaceChildren(...problems.map((p) => h('li', {}, p)));
    this.options.setAttribute('aria-invalid', problems.length ? 'true' : 'false');
    this.save.disabled = problems.length > 0;
    return problems;
  }

  async submit() {
    if (!this.name.checkValidity()) {
      this.status.textContent = 'The name is lower-case letters, digits, dash and underscore (up to 64).';
      this.name.focus();
      return;
    }
    if ((await this.check()).length) return;
    const row = {
      name: this.name.value,
      description: this.description.value || null,
      options: JSON.parse(this.options.value),
    };
    const query = this.editing
      ? supabase.from('processing_presets').update(row).eq('name', this.editing)
      : supabase.from('processing_presets').insert(row);
    const { error } = await query.select();
    if (error) {
      this.status.textContent = `Not saved: ${error.message}`;
      return;
    }
    this.status.textContent = `Saved preset ${row.name}.`;
    this.editing = row.name;
    this.title.textContent = `Edit preset ${row.name}`;
    await this.load();
  }
}

/** Fill a <select> with the presets; `first` are the fixed choices before them. */
export function fillPresetSelect(select, presets, first) {
  const kept = select.value;
  select.replaceChildren(
    ...first.map(([value, label]) => h('option', { value }, label)),
    ...presets.map((p) => h('option', { value: p.name }, p.name)),
  );
  if ([...select.options].some((o) => o.value === kept)) select.value = kept;
}
