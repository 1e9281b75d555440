"""A/B tests per placement: experiments and their variants (``models``), which variant a
shopper gets (``stats.assign``), serving it (``placements.services``), the results
(``results`` gathers, ``stats`` computes) and promoting the winner (``services``)."""
