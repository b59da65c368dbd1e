package sqlite

import (
	"testing"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/storetest"
)

func TestContract(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) eventstore.Store {
				return openTemp(t, Options{Driver: drv})
			})
		})
	}
}
