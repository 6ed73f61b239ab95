// A consumer app: installs resource-guard from its npm tarball and uses the React hooks under
// StrictMode (double mount). Counts guards created and disposed so the test can see leaks.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ResourceGuard } from 'resource-guard';
import { useResourceGuard, useGuardSnapshot, useHeapLevel } from 'resource-guard/react';

const counts = (window.__guards = { created: 0, disposed: 0 });
const create = ResourceGuard.create;
ResourceGuard.create = async function countedCreate(options) {
  const guard = await create.call(ResourceGuard, options);
  counts.created += 1;
  const dispose = guard.dispose.bind(guard);
  let done = false;
  guard.dispose = () => {
    if (!done) counts.disposed += 1;
    done = true;
    dispose();
  };
  return guard;
};

function Panel() {
  const guard = useResourceGuard({ rateLimit: { requests: 20, perMs: 1000 }, heap: { budgetBytes: 64 * 1024 * 1024 } });
  const snapshot = useGuardSnapshot(guard, 200);
  const level = useHeapLevel(guard);
  const [updates, setUpdates] = useState(0);
  const [answered, setAnswered] = useState(0);

  useEffect(() => {
    if (snapshot) setUpdates((n) => n + 1);
  }, [snapshot]);
  useEffect(() => {
    if (!guard) return;
    window.__guard = guard;
    window.__appReady = true;
  }, [guard]);

  const send = async () => {
    const responses = await Promise.all([1, 2, 3].map((i) => guard.fetch(`/api/echo?app=react&i=${i}`, { priority: 'high' })));
    setAnswered((n) => n + responses.filter((r) => r.ok).length);
  };

  return (
    <section>
      <p>heap level: <b id="level">{level}</b></p>
      <p>snapshot updates: <b id="updates">{updates}</b></p>
      <p>categories: <b id="categories">{snapshot ? Object.keys(snapshot.categories ?? {}).join(',') : 'none'}</b></p>
      <p>uptime: <b id="uptime">{snapshot?.uptimeMs ?? 'n/a'}</b></p>
      <p>answered: <b id="answered">{answered}</b></p>
      <button id="send" disabled={!guard} onClick={send}>send 3 guarded requests</button>
    </section>
  );
}

function App() {
  const [mounted, setMounted] = useState(true);
  return (
    <main>
      <h1>resource-guard + React</h1>
      <button id="toggle" onClick={() => setMounted((m) => !m)}>{mounted ? 'unmount' : 'mount'}</button>
      {mounted ? <Panel /> : null}
    </main>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
