package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/clustertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		// every test gives its servers a temporary data directory
		if _, err := os.Stat(config.Default().Server.DataDir); err == nil {
			fmt.Fprintln(os.Stderr, "a test left a data directory in the package directory")
			code = 1
		}
		os.Exit(code)
	}))
}

// TestNewRefusesInvalidConfig: a configuration the parts refuse is an
// ErrInvalidConfig error naming the key, and nothing is left running.
func TestNewRefusesInvalidConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Server.BindAddr = "127.0.0.1:0"
	cfg.Limits.MaxBodyBytes = 0
	_, err := New(context.Background(), cfg, Options{Logger: clustertest.Logger()})
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
	if want := "limits.max_body_bytes"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
