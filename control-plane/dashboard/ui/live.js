import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';

// Live updates: one EventSource for the page; each `change` event names a topic, and every view showing that
// topic fetches again. EventSource reconnects by itself (after a control-plane restart too); on reconnecting,
// everything is fetched again, since changes made meanwhile were not announced.
const listeners = new Set();
let status = 'connecting';
const statusListeners = new Set();

function announce(topic) {
  for (const l of listeners) l(topic);
}

function setStatus(next) {
  status = next;
  for (const l of statusListeners) l(next);
}

export function connectLive() {
  const source = new EventSource('/api/events');
  let opened = false;
  source.addEventListener('open', () => {
    if (opened) announce('*');
    opened = true;
    setStatus('live');
  });
  source.addEventListener('error', () =>
    setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'),
  );
  source.addEventListener('change', (event) => announce(JSON.parse(event.data).topic));
}

export function useLiveStatus() {
  const [value, setValue] = useState(status);
  useEffect(() => {
    statusListeners.add(setValue);
    return () => statusListeners.delete(setValue);
  }, []);
  return value;
}

/** Fetches `path` now and again whenever one of `topics` changes; returns { data, error, reload }. */
export function useData(path, topics) {
  const [state, setState] = useState({ data: null, error: null });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const l = (topic) => {
      if (topic === '*' || topics.includes(topic)) setVersion((v) => v + 1);
    };
    listeners.add(l);
    return () => listeners.delete(l);
  }, [topics.join(',')]);
  useEffect(() => {
    if (path === null) return;
    let current = true;
    get(path).then(
      (data) => current && setState({ data, error: null }),
      (error) => current && setState((s) => ({ data: s.data, error })),
    );
    return () => {
      current = false;
    };
  }, [path, version]);
  return { ...state, reload: () => setVersion((v) => v + 1) };
}
