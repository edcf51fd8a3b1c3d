package sqlite

// migrations[i] brings the schema from version i to version i+1. Append only: a released step
// is never edited, since databases in the field already ran it.
var migrations = []string{
	// 1: the initial schema.
	//
	// An entry's selectors and federated trust domains are stored twice: as canonical JSON
	// columns, read back without joins and (for selectors) part of the uniqueness key, and as
	// child rows whose indexes serve the selector and federates_with filters.
	`
CREATE TABLE entries (
	id              TEXT PRIMARY KEY,
	spiffe_id       TEXT NOT NULL,
	parent_id       TEXT NOT NULL,
	selectors       TEXT NOT NULL,
	federates_with  TEXT NOT NULL,
	dns_names       TEXT NOT NULL,
	x509_svid_ttl   INTEGER NOT NULL,
	jwt_svid_ttl    INTEGER NOT NULL,
	admin           INTEGER NOT NULL,
	downstream      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	store_svid      INTEGER NOT NULL,
	hint            TEXT NOT NULL,
	revision_number INTEGER NOT NULL,
	created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX entries_identity ON entries (parent_id, spiffe_id, selectors);
CREATE INDEX entries_spiffe_id ON entries (spiffe_id);

CREATE TABLE entry_selectors (
	entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	type     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (entry_id, type, value)
) WITHOUT ROWID;
CREATE INDEX entry_selectors_selector ON entry_selectors (type, value);

CREATE TABLE entry_federates_with (
	entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	trust_domain TEXT NOT NULL,
	PRIMARY KEY (entry_id, trust_domain)
) WITHOUT ROWID;
CREATE INDEX entry_federates_with_trust_domain ON entry_federates_with (trust_domain);

-- No foreign key to entries: events outlive the entries they report deleted.
CREATE TABLE entry_events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	entry_id   TEXT NOT NULL,
	created_at INTEGER NOT NULL -- unix nanoseconds
);
CREATE INDEX entry_events_created_at ON entry_events (created_at);

CREATE TABLE agents (
	id                TEXT PRIMARY KEY,
	attestation_type  TEXT NOT NULL,
	serial_number     TEXT NOT NULL,
	expires_at        INTEGER NOT NULL,
	new_serial_number TEXT NOT NULL,
	new_expires_at    INTEGER NOT NULL,
	selectors         TEXT NOT NULL,
	banned            INTEGER NOT NULL,
	can_reattest      INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL
);

CREATE TABLE agent_selectors (
	agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	type     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (agent_id, type, value)
) WITHOUT ROWID;
CREATE INDEX agent_selectors_selector ON agent_selectors (type, value);

CREATE TABLE join_tokens (
	token      TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL, -- unix nanoseconds
	agent_id   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE bundles (
	trust_domain TEXT PRIMARY KEY,
	data         BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE ca_journals (
	server_id TEXT PRIMARY KEY,
	data      BLOB NOT NULL
) WITHOUT ROWID;
`,
	// 2: federation relationships. No foreign key to bundles: a relationship exists before
	// its first bundle is fetched.
	`
CREATE TABLE federation_relationships (
	trust_domain        TEXT PRIMARY KEY,
	bundle_endpoint_url TEXT NOT NULL,
	profile             TEXT NOT NULL,
	endpoint_spiffe_id  TEXT NOT NULL,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL
) WITHOUT ROWID;
`,
}
