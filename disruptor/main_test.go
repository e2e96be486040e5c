package disruptor

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEvent is the event of most tests: who published it and its number
// in that producer's stream.
type testEvent struct {
	producer int
	value    int64
	a, b     int64 // written by graph stages
}

func newTestEvent() testEvent { return testEvent{} }

// scale returns full, or small under -short.
func scale(full, small int64) int64 {
	if testing.Short() {
		return small
	}
	return full
}
