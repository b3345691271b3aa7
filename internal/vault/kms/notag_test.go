//go:build !kms

package kms_test

const kmsBuilt = false
