// Small DOM helpers: build elements without innerHTML, so no row value is ever parsed as markup.

/** The element with this id (throws when the page lacks it: a bug, not a state). */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

/** A new element: h('p', { class: 'x', hidden: true }, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, '');
    } else {
      node.setAttribute(name, String(value));
    }
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Show exactly one of several elements (the others get `hidden`). */
export function showOnly(shown, ...others) {
  for (const node of others) node.hidden = true;
  if (shown) shown.hidden = false;
}

/** "4 s", "3 min", "2.5 h": an age a person reads at a glance. */
export function age(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
