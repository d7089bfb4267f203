package metric

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWorkerSource(t *testing.T) {
	t.Parallel()
	m := New(nil)
	if n := testutil.CollectAndCount(m.workers); n != 0 {
		t.Fatalf("%d worker series without a source (an API replica)", n)
	}
	use := WorkerUse{Slots: 4, Busy: 3, BusySeconds: 1800, CapacitySeconds: 2400}
	m.SetWorkerSource(func() WorkerUse { return use })
	want := `
# HELP avatar_worker_busy_ratio Busy slots over slots, now (0 with no slots); over a window, use rate(avatar_worker_busy_seconds_total) / rate(avatar_worker_capacity_seconds_total).
# TYPE avatar_worker_busy_ratio gauge
avatar_worker_busy_ratio 0.75
# HELP avatar_worker_busy_seconds_total Slot-seconds this process's workers spent generating.
# TYPE avatar_worker_busy_seconds_total counter
avatar_worker_busy_seconds_total 1800
# HELP avatar_worker_busy_slots Jobs this process's workers run now.
# TYPE avatar_worker_busy_slots gauge
avatar_worker_busy_slots 3
# HELP avatar_worker_capacity_seconds_total Slot-seconds this process's workers had available, busy or not.
# TYPE avatar_worker_capacity_seconds_total counter
avatar_worker_capacity_seconds_total 2400
# HELP avatar_worker_slots Jobs this process's workers can run at once.
# TYPE avatar_worker_slots gauge
avatar_worker_slots 4
`
	if err := testutil.CollectAndCompare(m.workers, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	use = WorkerUse{} // no slots: idle, not a division by zero
	if got := scrape(t, m)[`avatar_worker_busy_ratio{}`]; got != 0 {
		t.Errorf("busy ratio %g with no slots, want 0", got)
	}
	m.SetWorkerSource(nil)
	if n := testutil.CollectAndCount(m.workers); n != 0 {
		t.Errorf("%d worker series after the source was removed", n)
	}
}

func TestGPUSource(t *testing.T) {
	t.Parallel()
	m := New(nil)
	var readings []GPUReading
	m.SetGPUSource(func() []GPUReading { return readings })
	if n := testutil.CollectAndCount(m.gpus); n != 0 {
		t.Fatalf("%d GPU series on a machine without GPUs, want none (not zeros)", n)
	}
	readings = []GPUReading{
		{GPU: 0, Utilization: 0.93, MemoryUsedBytes: 20e9, MemoryTotalBytes: 24e9},
		{GPU: 1, Utilization: 0, MemoryUsedBytes: 1e6, MemoryTotalBytes: 24e9},
		{GPU: 0, Utilization: 0.5}, // read twice: the first reading stands
	}
	want := `
# HELP avatar_gpu_memory_total_bytes Memory of a GPU of this machine.
# TYPE avatar_gpu_memory_total_bytes gauge
avatar_gpu_memory_total_bytes{gpu="0"} 2.4e+10
avatar_gpu_memory_total_bytes{gpu="1"} 2.4e+10
# HELP avatar_gpu_memory_used_bytes Memory in use on a GPU of this machine.
# TYPE avatar_gpu_memory_used_bytes gauge
avatar_gpu_memory_used_bytes{gpu="0"} 2e+10
avatar_gpu_memory_used_bytes{gpu="1"} 1e+06
# HELP avatar_gpu_utilization_ratio Share of the last sample period a GPU of this machine was busy, 0 to 1.
# TYPE avatar_gpu_utilization_ratio gauge
avatar_gpu_utilization_ratio{gpu="0"} 0.93
avatar_gpu_utilization_ratio{gpu="1"} 0
`
	if err := testutil.CollectAndCompare(m.gpus, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
