/**
 * Confirmation of destructive actions, in the page rather than a `confirm()` dialog: the
 * button shows a question with a confirm and a cancel button beside it; only the confirm button
 * runs the action. Keyboard and screen-reader friendly (focus moves to the question's buttons).
 */
import { actionButton, h, replace } from '../lib/dom.js';

/**
 * A danger button whose click asks `question` first. `confirmText` labels the button that
 * really does it; `onError` receives the action's error (an ApiError with `detail`).
 */
export function confirmButton(text, { question, confirmText, action, onError, className = 'small danger', ...attrs }) {
  const box = h('span', { class: 'confirm' });
  const ask = () => {
    const yes = actionButton(confirmText ?? text, async () => {
      await action();
      if (box.isConnected) reset();
    }, { className: 'danger', onError: (err) => {
      reset();
      onError?.(err);
    } });
    const no = h('button', { type: 'button', class: 'small', text: 'Cancel', on: { click: () => reset() } });
    replace(box, h('span', { class: 'question', role: 'alert', text: question }), ' ', yes, ' ', no);
    yes.focus();
  };
  const reset = () => replace(box, h('button', { type: 'button', class: className, text, ...attrs, on: { click: ask } }));
  reset();
  return box;
}

/** Lines of a textarea (or commas) as a list of trimmed, non-empty strings. */
export function lines(text) {
  return String(text ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
