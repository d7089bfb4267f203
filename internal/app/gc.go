package app

import (
	"github.com/avatar-api/avatar-api/internal/gc"
	"github.com/avatar-api/avatar-api/internal/worker"
)

// collector is the garbage collection the workers run: jobs kept for
// JOB_RETENTION after they ended, objects no job needs deleted once
// STORAGE_ORPHAN_AGE old. A configuration without either (built by hand,
// not loaded) collects nothing rather than everything.
func (a *App) collector() worker.Collector {
	if a.Config.JobRetention <= 0 || a.Config.OrphanAge <= 0 {
		return nil
	}
	return &gc.Collector{Store: a.Store, Storage: a.Storage, Log: a.Log,
		OrphanAge: a.Config.OrphanAge, Retention: a.Config.JobRetention, Metrics: a.Metrics}
}
