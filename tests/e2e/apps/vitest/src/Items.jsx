// A component that loads `count` items through the app's guard (from <GuardProvider>).
import { useEffect, useState } from 'react';
import { useGuard } from 'resource-guard/react';

export function Items({ count }) {
  const guard = useGuard();
  const [done, setDone] = useState(0);
  useEffect(() => {
    let live = true;
    for (let i = 0; i < count; i++) {
      guard.fetch(`https://api.example.test/items/${i}`).then((r) => {
        if (live && r.ok) setDone((n) => n + 1);
      });
    }
    return () => {
      live = false;
    };
  }, [guard, count]);
  return <p>loaded <b data-testid="done">{done}</b> of {count}</p>;
}
