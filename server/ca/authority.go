package ca

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Authority is one of this server's signing authorities as the localauthority API shows it.
type Authority struct {
	// ID is the CA certificate's subject key ID in hex for X.509, the key ID (kid) for JWT.
	ID        string
	ExpiresAt time.Time
	// UpstreamID is the subject key ID (hex) of the upstream certificate that signed an
	// X.509 authority; empty for a self-signed one and for JWT.
	UpstreamID string
}

// Authorities is the state of one kind of authority; any of them may be nil.
type Authorities struct {
	Active, Prepared, Old *Authority
}

// Errors of the authority operations, for the API to map to status codes.
var (
	// ErrAuthorityNotFound: no authority of this server has the ID.
	ErrAuthorityNotFound = errors.New("authority not found")
	// ErrAuthorityState: the authority exists but the operation does not apply to it
	// (tainting the active one, activating one that is not prepared).
	ErrAuthorityState = errors.New("authority is in the wrong state")
	// ErrUpstreamSetup: the operation does not fit how the server is configured (local
	// X.509 authorities under an upstream authority, upstream operations without one).
	ErrUpstreamSetup = errors.New("not possible with this upstream configuration")
)

// slot is what the authority operations need of an X.509 or JWT slot.
type slot interface {
	authority() *Authority
	status() *slotStatus
	keyID() string
	started() time.Time
}

func (s *x509Slot) authority() *Authority {
	a := &Authority{ID: hex.EncodeToString(s.cert.SubjectKeyId), ExpiresAt: s.cert.NotAfter}
	if !isSelfSigned(s.cert) {
		a.UpstreamID = hex.EncodeToString(s.cert.AuthorityKeyId)
	}
	return a
}
func (s *x509Slot) status() *slotStatus { return &s.Status }
func (s *x509Slot) keyID() string       { return s.KeyID }
func (s *x509Slot) started() time.Time  { return s.cert.NotBefore }

func (s *jwtSlot) authority() *Authority {
	return &Authority{ID: s.Kid, ExpiresAt: s.NotAfter}
}
func (s *jwtSlot) status() *slotStatus { return &s.Status }
func (s *jwtSlot) keyID() string       { return s.KeyID }
func (s *jwtSlot) started() time.Time  { return s.NotBefore }

func slotsOf[S slot](in []S) []slot {
	out := make([]slot, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

// statesOf reports the active, prepared and newest old slot.
func statesOf(slots []slot) Authorities {
	var out Authorities
	var newestOld slot
	for _, s := range slots {
		switch *s.status() {
		case active:
			out.Active = s.authority()
		case prepared:
			out.Prepared = s.authority()
		case old:
			if newestOld == nil || s.started().After(newestOld.started()) {
				newestOld = s
			}
		}
	}
	if newestOld != nil {
		out.Old = newestOld.authority()
	}
	return out
}

// findSlot returns the slot with this ID if it has the wanted status; kind is "x509" or
// "jwt", verb what the caller is about to do, both for the messages.
func findSlot(slots []slot, kind, verb, id string, want slotStatus) (slot, error) {
	if id == "" {
		return nil, fmt.Errorf("no authority ID given: pass -authorityID (see `localauthority %s show`): %w", kind, ErrAuthorityState)
	}
	for _, s := range slots {
		if s.authority().ID != id {
			continue
		}
		got := *s.status()
		switch {
		case got == want:
			return s, nil
		case got == active && want == prepared:
			return nil, fmt.Errorf("authority %s is already active (see `localauthority %s show`): %w", id, kind, ErrAuthorityState)
		case got == active:
			return nil, fmt.Errorf("authority %s is the active one and signs every new SVID: it cannot be %s; prepare and activate a new authority first: %w", id, verb, ErrAuthorityState)
		default:
			return nil, fmt.Errorf("authority %s is %s, and only an authority that is %s can be %s (see `localauthority %s show`): %w", id, got, want, verb, kind, ErrAuthorityState)
		}
	}
	return nil, fmt.Errorf("no %s authority %q on this server (see `localauthority %s show` for the IDs): %w", kind, id, kind, ErrAuthorityNotFound)
}

// dropSlot removes the slot with this key ID and queues its key for deletion.
func dropSlot[S slot](slots []S, keyID string, retired *[]string) []S {
	out := slots[:0]
	for _, s := range slots {
		if s.keyID() == keyID {
			*retired = append(*retired, keyID)
			continue
		}
		out = append(out, s)
	}
	return out
}
