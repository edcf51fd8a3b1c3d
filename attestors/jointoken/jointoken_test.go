package jointoken

import (
	"context"
	"testing"
)

func TestProverRefusesMalformedToken(t *testing.T) {
	if _, err := (Prover{Token: "has space"}).Payload(context.Background()); err == nil {
		t.Fatal("a token with a space was accepted")
	}
}
