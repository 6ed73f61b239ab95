// A consumer app: installs resource-guard from its npm tarball and uses the React hooks under
// StrictMode (double mount). Counts guards created and disposed so the test can see leaks.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ResourceGuard, createGuard } from 'resource-guard';
import { GuardProvider, useGuard, useResourceGuard, useGuardSnapshot, useHeapLevel } from 'resource-guard/react';

// One guard for the whole app (README: "One guard for the whole app"): two per second.
export const appGuard = createGuard({ rateLimit: { requests: 2, perMs: 1000 } });
window.__appGuard = appGuard;

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

/** Two of these share the provider's guard, hence one budget. */
function Loader({ name }) {
  const guard = useGuard();
  const [answered, setAnswered] = useState(0);
  const load = async () => {
    const rs = await Promise.all([1, 2].map((i) => guard.fetch(`/api/echo?app=react-shared&who=${name}&i=${i}`)));
    setAnswered((n) => n + rs.filter((r) => r.ok).length);
  };
  return <button className="loader" data-answered={answered} onClick={load}>{name}: {answered}</button>;
}

function Shared() {
  const snapshot = useGuardSnapshot(useGuard(), 200);
  return (
    <section>
      <Loader name="left" />
      <Loader name="right" />
      <p>shared guard sent: <b id="shared-sent">{snapshot?.categories.api.counters.sent ?? 'n/a'}</b></p>
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
      <GuardProvider guard={appGuard}>
        <Shared />
      </GuardProvider>
    </main>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
