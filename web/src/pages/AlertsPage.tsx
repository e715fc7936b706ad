import type { PageProps } from '../App';
import { PendingApi } from '../components/PendingApi';

export function AlertsPage(_: PageProps) {
  return (
    <PendingApi
      summary="Rules with their state, firing alerts grouped, silences and history."
      endpoints={['GET /api/v1/rules', 'GET /api/v1/alerts']}
      features={[]}
    />
  );
}
