//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive, non-blocking flock on f (a lock another
// process's flock, or another open of the file in this process, refuses),
// and records this process's id in it for the next one's message.
func lockFile(f File, path string) error {
	fd := f.Fd()
	if fd == ^uintptr(0) {
		return nil // an FS without descriptors (tests): nothing to lock
	}
	if err := unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid := strings.TrimSpace(string(b)); pid != "" {
					holder = " (held by process " + pid + ")"
				}
			}
			return fmt.Errorf("%w: %s is in use by another process%s; stop it, or point this one at another data directory", ErrLocked, path, holder)
		}
		return fmt.Errorf("journal: locking %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("journal: writing %s: %w", path, err)
	}
	if _, err := f.WriteAt(pid, 0); err != nil {
		return fmt.Errorf("journal: writing %s: %w", path, err)
	}
	return nil
}
