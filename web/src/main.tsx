import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import './styles.css';

// The bare address opens the metrics explorer (keeping any query string).
// It lives at /graph because the server itself answers /metrics.
if (window.location.pathname === '/') {
  window.history.replaceState(null, '', '/graph' + window.location.search);
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
