/**
 * Versioned migrations per component. Each component (store core, alerting, ...) owns its
 * tables and its ordered list of migrations; applied versions are recorded per component.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  up: string | ((db: Database) => void);
}

export function migrate(db: Database, component: string, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (component, version))`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations WHERE component = ?').all(component) as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const record = db.prepare('INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      record.run(component, m.version, Date.now());
    })();
  }
}
