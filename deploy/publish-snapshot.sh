#!/bin/sh
# Copy the serving snapshot to every API host (not run here; see deploy/README.md).
# rsync writes to a temporary file beside the target and renames it into place, so a worker
# sees the old snapshot or the new one, never half of one; workers notice the new inode within
# a second and reopen. A host that is down keeps serving its previous snapshot.
set -eu
snapshot=$1
hosts=${FIDELIA_API_HOSTS:-"api-1.internal api-2.internal"}
status=0
for host in $hosts; do
    rsync --archive --compress "$snapshot" "fidelia@$host:/var/lib/fidelia/snapshot/profiles.duckdb" || status=1
done
exit $status
