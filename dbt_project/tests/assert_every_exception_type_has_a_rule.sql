-- recon_exceptions only carries types of the contract (DESIGN.md), each with its rule.
select exception_type
from {{ ref('recon_exceptions') }}
where owner_system is null or correction_action is null
