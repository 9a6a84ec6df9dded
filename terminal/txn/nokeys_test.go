package txn

import (
	"errors"
	"testing"

	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// unprovisionedKeys is a key source that knows it has no key (as
// terminal/dukptkeys's does before a key is loaded).
type unprovisionedKeys struct{ taken int }

func (k *unprovisionedKeys) Next() (*wiresec.Session, error) {
	k.taken++
	return nil, errors.New("not provisioned")
}

func (*unprovisionedKeys) KSN() (string, error) { return "", errors.New("not provisioned") }

// A terminal whose key source says it has no key refuses a card
// transaction before asking for the card: the customer does not present
// a card for a sale that cannot be sent, and nothing is recorded.
func TestNoKeysRefusedBeforeTheCard(t *testing.T) {
	keys := &unprovisionedKeys{}
	e, _, db := setupWith(t, approveAll(), func(o *Opts) { o.Keys = keys })
	for _, req := range []Request{{Amount: 100, Currency: "156"}, {Kind: host.KindBalance, Currency: "156"},
		{Kind: host.KindRefund, Amount: 100, Currency: "156"}} {
		if tx, err := e.Start(req); !errors.Is(err, ErrKeys) {
			t.Fatalf("%s without a key: %+v, %v; want %v", req.Kind, tx, err, ErrKeys)
		}
	}
	if list, err := db.List(10); err != nil || len(list) != 0 {
		t.Fatalf("records after the refusals: %v %+v", err, list)
	}
	if keys.taken != 0 {
		t.Fatalf("a key was asked for %d times", keys.taken)
	}
}
