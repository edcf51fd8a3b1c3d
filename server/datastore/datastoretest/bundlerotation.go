package datastoretest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func keyIDs(b *datastore.Bundle) []string {
	var out []string
	for _, k := range b.JWTAuthorities {
		out = append(out, k.KeyID)
	}
	return out
}

func hasCert(b *datastore.Bundle, der []byte) bool {
	for _, a := range b.X509Authorities {
		if bytes.Equal(a.DER, der) {
			return true
		}
	}
	return false
}

var bundleRotationTests = map[string]func(t *testing.T, open Opener){
	"append creates, adds only what is new, and counts sequence numbers only for changes": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		certA := caCert(t, "example.org", time.Now().Add(time.Hour))
		keyA := jwtKey(t, "a", time.Now().Add(time.Hour).Unix())
		steps := []struct {
			name    string
			x509    [][]byte
			jwt     []datastore.JWTKey
			wantSeq uint64
			wantCAs int
			wantKey []string
		}{
			{"appending to a missing bundle creates it", [][]byte{certA}, []datastore.JWTKey{keyA}, 1, 1, []string{"a"}},
			{"appending what is there changes nothing", [][]byte{certA}, []datastore.JWTKey{keyA}, 1, 1, []string{"a"}},
			{"a key with a known key ID is not added again", nil, []datastore.JWTKey{jwtKey(t, "a", 1)}, 1, 1, []string{"a"}},
			{"a new certificate is added", [][]byte{certA, caCert(t, "example.org", time.Now().Add(2*time.Hour))}, nil, 2, 2, []string{"a"}},
			{"a new key is added", nil, []datastore.JWTKey{keyA, jwtKey(t, "b", 0)}, 3, 2, []string{"a", "b"}},
		}
		for _, st := range steps {
			in := &datastore.Bundle{TrustDomain: "example.org", JWTAuthorities: st.jwt}
			for _, der := range st.x509 {
				in.X509Authorities = append(in.X509Authorities, datastore.X509Authority{DER: der})
			}
			got, err := s.AppendBundle(ctx, in)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			stored := mustGetBundle(t, s, "example.org")
			sameBundle(t, got, stored)
			if stored.SequenceNumber != st.wantSeq || len(stored.X509Authorities) != st.wantCAs ||
				fmt.Sprint(keyIDs(stored)) != fmt.Sprint(st.wantKey) {
				t.Fatalf("%s: sequence %d, %d CAs, keys %v; want %d, %d, %v", st.name, stored.SequenceNumber,
					len(stored.X509Authorities), keyIDs(stored), st.wantSeq, st.wantCAs, st.wantKey)
			}
			if !bytes.Equal(stored.JWTAuthorities[0].PublicKey, keyA.PublicKey) {
				t.Fatalf("%s: key a was replaced by a key with the same ID", st.name)
			}
		}
	},
	"concurrent appends all land and each bumps the sequence once": func(t *testing.T, open Opener) {
		s := open(t)
		if _, err := s.CreateBundle(t.Context(), &datastore.Bundle{TrustDomain: "example.org",
			X509Authorities: []datastore.X509Authority{{DER: caCert(t, "example.org", time.Now().Add(time.Hour))}}}); err != nil {
			t.Fatal(err)
		}
		keys := make([]datastore.JWTKey, 8)
		for i := range keys {
			keys[i] = jwtKey(t, fmt.Sprintf("k%d", i), 0)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(keys))
		for i, k := range keys {
			wg.Go(func() {
				_, errs[i] = s.AppendBundle(t.Context(), &datastore.Bundle{TrustDomain: "example.org", JWTAuthorities: []datastore.JWTKey{k}})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		b := mustGetBundle(t, s, "example.org")
		if len(b.JWTAuthorities) != len(keys) || b.SequenceNumber != uint64(len(keys)) {
			t.Fatalf("after %d concurrent appends: %d keys, sequence %d", len(keys), len(b.JWTAuthorities), b.SequenceNumber)
		}
	},
	"prune removes expired authorities once and bumps the sequence": func(t *testing.T, open Opener) {
		s := open(t)
		now := time.Now()
		expired, valid := caCert(t, "example.org", now.Add(-time.Hour)), caCert(t, "example.org", now.Add(time.Hour))
		in := &datastore.Bundle{TrustDomain: "example.org", SequenceNumber: 5,
			X509Authorities: []datastore.X509Authority{{DER: expired}, {DER: valid}},
			JWTAuthorities:  []datastore.JWTKey{jwtKey(t, "old", now.Add(-time.Hour).Unix()), jwtKey(t, "new", now.Add(time.Hour).Unix())},
		}
		if _, err := s.CreateBundle(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		changed, err := s.PruneBundle(t.Context(), "example.org", now)
		if err != nil || !changed {
			t.Fatalf("PruneBundle = %v, %v; want true, nil", changed, err)
		}
		b := mustGetBundle(t, s, "example.org")
		if len(b.X509Authorities) != 1 || !hasCert(b, valid) || fmt.Sprint(keyIDs(b)) != "[new]" || b.SequenceNumber != 6 {
			t.Fatalf("after prune: %d CAs (valid kept: %v), keys %v, sequence %d; want 1, true, [new], 6",
				len(b.X509Authorities), hasCert(b, valid), keyIDs(b), b.SequenceNumber)
		}
		changed, err = s.PruneBundle(t.Context(), "example.org", now)
		if err != nil || changed {
			t.Fatalf("second PruneBundle = %v, %v; want false, nil", changed, err)
		}
		if b := mustGetBundle(t, s, "example.org"); b.SequenceNumber != 6 {
			t.Fatalf("a prune that changed nothing moved the sequence to %d", b.SequenceNumber)
		}
	},
	"prune never removes the last X.509 authority": func(t *testing.T, open Opener) {
		s := open(t)
		now := time.Now()
		older, newer := caCert(t, "example.org", now.Add(-2*time.Hour)), caCert(t, "example.org", now.Add(-time.Hour))
		if _, err := s.CreateBundle(t.Context(), &datastore.Bundle{TrustDomain: "example.org",
			X509Authorities: []datastore.X509Authority{{DER: older}, {DER: newer}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PruneBundle(t.Context(), "example.org", now); err != nil {
			t.Fatal(err)
		}
		if b := mustGetBundle(t, s, "example.org"); len(b.X509Authorities) != 1 || !hasCert(b, newer) {
			t.Fatalf("after pruning all-expired authorities %d remain (newest kept: %v); want only the newest",
				len(b.X509Authorities), hasCert(b, newer))
		}
	},
	"prune of an unknown trust domain is ErrNotFound": func(t *testing.T, open Opener) {
		_, err := open(t).PruneBundle(t.Context(), "nowhere.org", time.Now())
		wantErr(t, err, datastore.ErrNotFound)
	},
}
