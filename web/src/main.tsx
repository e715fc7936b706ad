import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { canonicalLink } from './links';
import './styles.css';

// The bare address opens the metrics explorer (keeping any query string).
// It lives at /graph because the server itself answers /metrics.
if (window.location.pathname === '/') {
  window.history.replaceState(null, '', '/graph' + window.location.search);
}
// Links written for Prometheus (g0.expr) or Loki (query) open the same view.
const canonical = canonicalLink(window.location.pathname, window.location.search);
if (canonical) window.history.replaceState(null, '', canonical);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
