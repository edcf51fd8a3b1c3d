package datastoretest

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func subjectKeyID(t *testing.T, der []byte) []byte {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Fatal("test CA certificate has no subject key ID")
	}
	return c.SubjectKeyId
}

var bundleTaintTests = map[string]func(t *testing.T, open Opener){
	"an X.509 authority is tainted, then revoked, each a new sequence number": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		oldCA, newCA := caCert(t, "example.org", time.Now().Add(time.Hour)), caCert(t, "example.org", time.Now().Add(2*time.Hour))
		b, err := s.AppendBundle(ctx, &datastore.Bundle{TrustDomain: "example.org", X509Authorities: []datastore.X509Authority{{DER: oldCA}, {DER: newCA}}})
		if err != nil {
			t.Fatal(err)
		}
		seq := b.SequenceNumber
		ski := subjectKeyID(t, oldCA)

		_, err = s.RevokeX509Authority(ctx, "example.org", ski)
		wantErr(t, err, datastore.ErrConflict) // not tainted yet
		got, err := s.TaintX509Authority(ctx, "example.org", ski)
		if err != nil {
			t.Fatal(err)
		}
		if got.SequenceNumber != seq+1 || !got.X509Authorities[0].Tainted || got.X509Authorities[1].Tainted {
			t.Fatalf("after taint: sequence %d (want %d), authorities %+v", got.SequenceNumber, seq+1, got.X509Authorities)
		}
		_, err = s.TaintX509Authority(ctx, "example.org", ski)
		wantErr(t, err, datastore.ErrConflict)
		stored, err := s.GetBundle(ctx, "example.org")
		if err != nil {
			t.Fatal(err)
		}
		if !stored.X509Authorities[0].Tainted || stored.SequenceNumber != seq+1 {
			t.Fatalf("stored bundle lost the taint: %+v", stored)
		}
		// Appending the same certificate again (a server publishing its slots) keeps the taint.
		if again, err := s.AppendBundle(ctx, &datastore.Bundle{TrustDomain: "example.org", X509Authorities: []datastore.X509Authority{{DER: oldCA}}}); err != nil || !again.X509Authorities[0].Tainted {
			t.Fatalf("append after taint: %v, %+v", err, again)
		}

		got, err = s.RevokeX509Authority(ctx, "example.org", ski)
		if err != nil {
			t.Fatal(err)
		}
		if got.SequenceNumber != seq+2 || len(got.X509Authorities) != 1 || hasCert(got, oldCA) {
			t.Fatalf("after revoke: sequence %d (want %d), %d authorities", got.SequenceNumber, seq+2, len(got.X509Authorities))
		}
		_, err = s.TaintX509Authority(ctx, "example.org", ski)
		wantErr(t, err, datastore.ErrNotFound)
	},
	"a JWT key is tainted, then revoked": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		exp := time.Now().Add(time.Hour).Unix()
		b, err := s.AppendBundle(ctx, &datastore.Bundle{TrustDomain: "example.org",
			X509Authorities: []datastore.X509Authority{{DER: caCert(t, "example.org", time.Now().Add(time.Hour))}},
			JWTAuthorities:  []datastore.JWTKey{jwtKey(t, "old", exp), jwtKey(t, "new", exp)}})
		if err != nil {
			t.Fatal(err)
		}
		seq := b.SequenceNumber
		_, err = s.RevokeJWTKey(ctx, "example.org", "old")
		wantErr(t, err, datastore.ErrConflict)
		got, err := s.TaintJWTKey(ctx, "example.org", "old")
		if err != nil {
			t.Fatal(err)
		}
		if got.SequenceNumber != seq+1 || !got.JWTAuthorities[0].Tainted || got.JWTAuthorities[1].Tainted {
			t.Fatalf("after taint: %+v", got)
		}
		_, err = s.TaintJWTKey(ctx, "example.org", "old")
		wantErr(t, err, datastore.ErrConflict)
		got, err = s.RevokeJWTKey(ctx, "example.org", "old")
		if err != nil {
			t.Fatal(err)
		}
		if got.SequenceNumber != seq+2 || len(got.JWTAuthorities) != 1 || got.JWTAuthorities[0].KeyID != "new" {
			t.Fatalf("after revoke: %+v", got)
		}
	},
	"unknown authorities and bundles are not found": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		_, err := s.TaintJWTKey(ctx, "nowhere.org", "k")
		wantErr(t, err, datastore.ErrNotFound)
		if _, err := s.AppendBundle(ctx, &datastore.Bundle{TrustDomain: "example.org",
			X509Authorities: []datastore.X509Authority{{DER: caCert(t, "example.org", time.Now().Add(time.Hour))}}}); err != nil {
			t.Fatal(err)
		}
		_, err = s.TaintX509Authority(ctx, "example.org", []byte{1, 2, 3})
		wantErr(t, err, datastore.ErrNotFound)
		_, err = s.RevokeJWTKey(ctx, "example.org", "k")
		wantErr(t, err, datastore.ErrNotFound)
	},
}
