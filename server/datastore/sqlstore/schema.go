package sqlstore

import "strings"

// Types are a dialect's column types for the shared schema.
type Types struct {
	Serial  string // an auto-incrementing 64-bit primary key
	Int     string // a 64-bit integer
	Text    string // text compared byte by byte (page tokens and ORDER BY rely on it)
	Blob    string // bytes
	NoRowID string // table option for tables keyed by their primary key, or ""
	// IdentityIndex is the SQL that makes (parent_id, spiffe_id, selectors) unique among
	// entries; empty: a unique index on the three columns. A database whose index entries
	// cannot hold the longest values indexes a digest of them instead.
	IdentityIndex string
}

const identityIndex = `CREATE UNIQUE INDEX entries_identity ON entries (parent_id, spiffe_id, selectors);`

// Migrations returns the schema steps in a dialect's column types: migrations[i] brings the
// schema from version i to version i+1, the same versions in every dialect.
func Migrations(t Types) []string {
	if t.IdentityIndex == "" {
		t.IdentityIndex = identityIndex
	}
	r := strings.NewReplacer("{serial}", t.Serial, "{int}", t.Int, "{text}", t.Text, "{blob}", t.Blob, "{norowid}", t.NoRowID,
		"{identity_index}", t.IdentityIndex)
	out := make([]string, len(schemaSteps))
	for i, s := range schemaSteps {
		out[i] = r.Replace(s)
	}
	return out
}

// schemaSteps is the schema history. Append only: a released step is never edited, since
// databases in the field already ran it.
var schemaSteps = []string{
	// 1: the initial schema.
	//
	// An entry's selectors and federated trust domains are stored twice: as canonical JSON
	// columns, read back without joins and (for selectors) part of the uniqueness key, and as
	// child rows whose indexes serve the selector and federates_with filters.
	`
CREATE TABLE entries (
	id              {text} PRIMARY KEY,
	spiffe_id       {text} NOT NULL,
	parent_id       {text} NOT NULL,
	selectors       {text} NOT NULL,
	federates_with  {text} NOT NULL,
	dns_names       {text} NOT NULL,
	x509_svid_ttl   {int} NOT NULL,
	jwt_svid_ttl    {int} NOT NULL,
	admin           {int} NOT NULL,
	downstream      {int} NOT NULL,
	expires_at      {int} NOT NULL,
	store_svid      {int} NOT NULL,
	hint            {text} NOT NULL,
	revision_number {int} NOT NULL,
	created_at      {int} NOT NULL
);
{identity_index}
CREATE INDEX entries_spiffe_id ON entries (spiffe_id);

CREATE TABLE entry_selectors (
	entry_id {text} NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	type     {text} NOT NULL,
	value    {text} NOT NULL,
	PRIMARY KEY (entry_id, type, value)
){norowid};
CREATE INDEX entry_selectors_selector ON entry_selectors (type, value);

CREATE TABLE entry_federates_with (
	entry_id     {text} NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	trust_domain {text} NOT NULL,
	PRIMARY KEY (entry_id, trust_domain)
){norowid};
CREATE INDEX entry_federates_with_trust_domain ON entry_federates_with (trust_domain);

-- No foreign key to entries: events outlive the entries they report deleted.
CREATE TABLE entry_events (
	id         {serial},
	entry_id   {text} NOT NULL,
	created_at {int} NOT NULL -- unix nanoseconds
);
CREATE INDEX entry_events_created_at ON entry_events (created_at);

CREATE TABLE agents (
	id                {text} PRIMARY KEY,
	attestation_type  {text} NOT NULL,
	serial_number     {text} NOT NULL,
	expires_at        {int} NOT NULL,
	new_serial_number {text} NOT NULL,
	new_expires_at    {int} NOT NULL,
	selectors         {text} NOT NULL,
	banned            {int} NOT NULL,
	can_reattest      {int} NOT NULL,
	created_at        {int} NOT NULL,
	updated_at        {int} NOT NULL
);

CREATE TABLE agent_selectors (
	agent_id {text} NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	type     {text} NOT NULL,
	value    {text} NOT NULL,
	PRIMARY KEY (agent_id, type, value)
){norowid};
CREATE INDEX agent_selectors_selector ON agent_selectors (type, value);

CREATE TABLE join_tokens (
	token      {text} PRIMARY KEY,
	expires_at {int} NOT NULL, -- unix nanoseconds
	agent_id   {text} NOT NULL
){norowid};

CREATE TABLE bundles (
	trust_domain {text} PRIMARY KEY,
	data         {blob} NOT NULL
){norowid};

CREATE TABLE ca_journals (
	server_id {text} PRIMARY KEY,
	data      {blob} NOT NULL
){norowid};
`,
	// 2: federation relationships. No foreign key to bundles: a relationship exists before
	// its first bundle is fetched.
	`
CREATE TABLE federation_relationships (
	trust_domain        {text} PRIMARY KEY,
	bundle_endpoint_url {text} NOT NULL,
	profile             {text} NOT NULL,
	endpoint_spiffe_id  {text} NOT NULL,
	created_at          {int} NOT NULL,
	updated_at          {int} NOT NULL
){norowid};
`,
	// 3: the version an agent reports (PostStatus).
	`
ALTER TABLE agents ADD COLUMN agent_version {text} NOT NULL DEFAULT '';
`,
	// 4: one counter that every bundle write moves, so that a server can tell with a
	// one-row read whether any bundle changed, whichever server changed it.
	`
CREATE TABLE bundles_revision (
	id       {int} PRIMARY KEY,
	revision {int} NOT NULL
){norowid};
INSERT INTO bundles_revision (id, revision) VALUES (1, 0);
`,
}
