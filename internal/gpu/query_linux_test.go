package gpu

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestQueryDiesWithTheService kills a process in the middle of a query, as
// the OOM killer or an operator would kill the worker, and checks that
// nvidia-smi dies with it (Pdeathsig) rather than at the end of its own
// minute.
func TestQueryDiesWithTheService(t *testing.T) {
	if path := os.Getenv("GPU_TEST_SERVICE_QUERIES"); path != "" {
		// This is the service: it queries until it is killed.
		_, err := Query(context.Background(), path)
		t.Fatalf("the query ended before the service was killed: %v", err)
	}
	f := setup(t)
	f.write(t, "mode", "hang")
	service := exec.Command(os.Args[0], "-test.run=^TestQueryDiesWithTheService$")
	service.Env = append(os.Environ(), "GPU_TEST_SERVICE_QUERIES="+filepath.Join(f.dir, "nvidia-smi"))
	if err := service.Start(); err != nil {
		t.Fatal(err)
	}
	pid := f.pid(t)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // should the test fail
	if err := service.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = service.Wait()
	// Killed, nvidia-smi is a zombie until whoever adopted it reaps it.
	testkit.WaitFor(t, 3*time.Second, "nvidia-smi to die with the service", func() bool {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true
		}
		_, after, _ := bytes.Cut(stat, []byte(") "))
		return bytes.HasPrefix(after, []byte("Z"))
	})
}
