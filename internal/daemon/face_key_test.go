package daemon

import (
	"testing"

	facesim "posd/cmd/acquirer-sim/facepay"
	"posd/internal/config"
)

// The sim board derives its face-pay link key from the simulator's
// published master key: the two must be the same, or no sim face sale
// is ever signed right.
func TestSimFaceMasterKeyIsTheSimulators(t *testing.T) {
	if config.SimFaceMasterKey != facesim.TestMasterKey {
		t.Fatalf("config.SimFaceMasterKey %q, simulator's %q", config.SimFaceMasterKey, facesim.TestMasterKey)
	}
}
