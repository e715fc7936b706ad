import { hrefFor, onLinkClick } from '../router';

export interface PlannedFeature {
  title: string;
  text: string;
}

interface Props {
  summary: string;
  endpoints: string[];
  features: PlannedFeature[];
  meanwhile?: { label: string; path: string; params?: Record<string, string> };
}

/**
 * The honest state of a page whose server API has not landed yet: what it will
 * show and which endpoints it waits for. It draws no sample data.
 */
export function PendingApi({ summary, endpoints, features, meanwhile }: Props) {
  return (
    <div className="pending">
      <div className="card pending-card">
        <div className="pending-badge">Waiting for the server API</div>
        <p className="pending-summary">{summary}</p>
        <div className="pending-endpoints">
          <span className="muted">This page reads</span>
          <ul>
            {endpoints.map((e) => (
              <li key={e}>
                <code>{e}</code>
              </li>
            ))}
          </ul>
          <span className="muted">
            This build of the server does not serve them yet; the page fills in when they land.
          </span>
        </div>
        {meanwhile && (
          <a className="btn" href={hrefFor(meanwhile.path, meanwhile.params)} onClick={onLinkClick}>
            {meanwhile.label}
          </a>
        )}
      </div>
      <div className="feature-grid">
        {features.map((f) => (
          <div className="card feature" key={f.title}>
            <h3>{f.title}</h3>
            <p>{f.text}</p>
          </div>
        ))}
      </div>
    </div>
  );
}
