//go:build !unix

package sn

func setBroadcast(uintptr) error { return nil }
