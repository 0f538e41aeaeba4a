/**
 * DOM helpers. Every piece of text goes in as a text node (textContent), never as HTML: the
 * page's CSP (Trusted Types with no policy) makes the browser refuse HTML-string sinks anyway.
 */

let uid = 0;
/** A fresh element id, for label/aria links. */
export function newId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * Creates an element. `props`: `class`, `text`, `on` ({ event: handler }), `dataset`, boolean
 * and string attributes (set with setAttribute; `style` and `on*` strings are refused, they
 * would be blocked by the CSP or be an injection path). Children: nodes, strings (text nodes),
 * null/undefined/false (skipped) or arrays of those.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'selected') el[key] = value;
    else if (key === 'style' || key.startsWith('on')) throw new Error(`h(): "${key}" is not allowed`);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends nodes, strings (as text) and arrays of them. */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * A labelled form field. `type` may be any input type, `textarea` or `select` (with
 * `options: [[value, label]]`). Returns the wrapper; the control is `wrapper.control`.
 */
export function field({ label, name, type = 'text', value, hint, options, ...attrs }) {
  const id = newId(name);
  let control;
  if (type === 'textarea') control = h('textarea', { id, name, ...attrs });
  else if (type === 'select') {
    control = h('select', { id, name, ...attrs }, (options ?? []).map(([v, l]) => h('option', { value: v, text: l })));
  } else control = h('input', { id, name, type, ...attrs });
  if (value !== undefined && value !== null) {
    // the default too, so form.reset() returns to it rather than to empty
    if (type !== 'select') control.defaultValue = value;
    control.value = value;
  }
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const wrapper = h('div', { class: 'field' }, h('label', { for: id, text: label }), control, hintEl);
  wrapper.control = control;
  return wrapper;
}

/** A checkbox with its label after it. */
export function checkbox({ label, name, checked = false, ...attrs }) {
  const id = newId(name);
  const control = h('input', { id, name, type: 'checkbox', checked, ...attrs });
  const wrapper = h('div', { class: 'check' }, control, h('label', { for: id, text: label }));
  wrapper.control = control;
  return wrapper;
}

/** The named values of a form as a plain object (strings; checkboxes as booleans). */
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

/**
 * A form whose submit runs `onSubmit(values, form)` with its buttons disabled meanwhile and any
 * error shown in the form's own alert area (problem+json `detail` and field errors).
 */
export function form({ label, onSubmit, children, submit = 'Save', extraButtons = [] }) {
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', text: submit });
  const el = h('form', { 'aria-label': label }, alert, children, h('div', { class: 'actions' }, button, extraButtons));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (el.getAttribute('aria-busy') === 'true') return;
    showError(alert, null);
    el.setAttribute('aria-busy', 'true');
    const buttons = [...el.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    try {
      await onSubmit(formValues(el), el);
    } catch (err) {
      showError(alert, err);
    } finally {
      el.removeAttribute('aria-busy');
      for (const b of buttons) b.disabled = false;
    }
  });
  el.alert = alert;
  return el;
}

/** Shows an error (an ApiError's detail and field errors, or any Error's message) in `el`; null hides it. */
export function showError(el, err) {
  if (!err) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  const items = Array.isArray(err.errors) ? err.errors : [];
  replace(
    el,
    h('p', { text: err.detail ?? err.message ?? String(err) }),
    items.length ? h('ul', {}, items.map((e) => h('li', { text: `${e.path}: ${e.message}` }))) : null,
  );
  el.hidden = false;
}

/** A button that runs `action` with itself disabled meanwhile; errors go to `onError`. */
export function actionButton(text, action, { className, onError, ...attrs } = {}) {
  const b = h('button', { type: 'button', class: className, text, ...attrs });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await action(b);
    } catch (err) {
      if (onError) onError(err);
      else throw err;
    } finally {
      if (b.isConnected) b.disabled = false;
    }
  });
  return b;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** A date-time for people (local time zone), or an em dash. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTime.format(d);
}

/** A <time> element showing `iso` for people. */
export function timeEl(iso) {
  return iso ? h('time', { datetime: iso, text: when(iso) }) : h('span', { text: '—' });
}

/** A description list from [term, value] pairs; values may be nodes or text. */
export function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([term, value]) => [h('dt', { text: term }), h('dd', {}, value ?? '—')]));
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = newId('s');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), children);
}
