package api

import "time"

// SetPageBytes sets the budget of s's list pages (MaxPageBytes).
func SetPageBytes(s *Server, n int) { s.pageBytes = n }

// SetMaxScan sets how many seqs a typed log page of s examines
// (projection.MaxScan).
func SetMaxScan(s *Server, n int) { s.maxScan = n }

// SetProbeTTL sets how long s reuses a write probe's answer (probeTTL).
func SetProbeTTL(s *Server, d time.Duration) { s.probe.ttl = d }
