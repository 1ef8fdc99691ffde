-- Where to cut a site's visitors into buckets for the profiles job (profiles/buckets.py): an
-- estimate of the visitors (`uniq`, fixed memory) and a sorted sample of their ids, about
-- {sample_size} of them (all of them on a small site), from which the job picks the bounds.
-- The bucket is a range of visitor_id, the sort key's second column, so a bucket's query reads
-- only its own granules; the sample is by hash so it is spread evenly over that range.
WITH (SELECT uniq(visitor_id) FROM events
      WHERE site_id = {site_id:String} AND ts <= {as_of:DateTime64(3, 'UTC')}) AS visitors
SELECT visitors, visitor_id
FROM events
WHERE site_id = {site_id:String} AND ts <= {as_of:DateTime64(3, 'UTC')}
  AND cityHash64(visitor_id) % greatest(1, intDiv(visitors, {sample_size:UInt32})) = 0
GROUP BY visitor_id
ORDER BY visitor_id
