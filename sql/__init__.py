"""Every ClickHouse statement of Fidelia, as `.sql` files loaded by name.

`migrations/NNNN_name.sql` are applied in order by `fidelia migrate`; `queries/*.sql` are
named statements (`fidelia.store.Store.query("meta_get", key=...)`). Values are always bound
as `{name:Type}` parameters, never pasted in.
"""

from pathlib import Path

SQL_DIR = Path(__file__).parent
