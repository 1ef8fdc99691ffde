#!/bin/sh
# Copy the serving snapshot directory (base and delta, profiles/snapshot.py) to every API host
# (not run here; see deploy/README.md). rsync writes each file to a temporary name and, with
# --delay-updates, renames them all into place at the end; a worker then sees old or new files,
# never half of one, and any mix is consistent: a delta is only read over the base whose
# generation it names. Workers notice a new inode within a second and reopen. Deltas the job
# folded away are deleted after the copy. A host that is down keeps serving what it has.
set -eu
snapshot_dir=$1
hosts=${FIDELIA_API_HOSTS:-"api-1.internal api-2.internal"}
status=0
for host in $hosts; do
    rsync --archive --compress --delay-updates --delete-after --exclude '.*' \
        "$snapshot_dir/" "fidelia@$host:/var/lib/fidelia/snapshot/" || status=1
done
exit $status
