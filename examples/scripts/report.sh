#!/bin/sh
# Called by the SCRIPT executor as: report.sh --verbose '<sharding context JSON>'.
# The context is also in SHARDJOB_* environment variables.
echo "report for region ${SHARDJOB_SHARDING_PARAMETER} (shard ${SHARDJOB_SHARDING_ITEM}/${SHARDJOB_SHARDING_TOTAL_COUNT}, fire ${SHARDJOB_FIRE_ID})"
echo "arguments: $*"
