// Test helpers for AbortSignal listener bookkeeping.

/** An AbortController whose signal counts listeners added and not removed. */
export function countedController(): {
  controller: AbortController;
  live: () => number;
} {
  const controller = new AbortController();
  const signal = controller.signal;
  let live = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<typeof add>) => {
    live++;
    add(...args);
  }) as typeof add;
  signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
    live--;
    remove(...args);
  }) as typeof remove;
  return { controller, live: () => live };
}
