import { errorMessage } from '../api';

/** Shows an error exactly as the server or browser reported it. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  return (
    <div className="error-box" role="alert">
      <strong>{title ?? 'Error'}</strong>
      <span className="error-text">{errorMessage(error)}</span>
    </div>
  );
}

/** Shows server warnings (for example, partial results). */
export function WarningBox({ warnings }: { warnings: string[] }) {
  if (warnings.length === 0) return null;
  return (
    <div className="warning-box" role="status">
      <strong>Warning</strong>
      <ul>
        {warnings.map((w, i) => (
          <li key={i}>{w}</li>
        ))}
      </ul>
    </div>
  );
}
