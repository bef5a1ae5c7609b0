from rest_framework.pagination import PageNumberPagination

from studio.errors import InvalidInput


class StudioPagination(PageNumberPagination):
    """Pages of 50 (``page_size`` up to 500). A ``page`` that is not a page number is a 400 naming the
    field; a page past the last is a 404, as DRF answers it."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)
        digits = str(number)
        if number not in self.last_page_strings and not (
            digits.isascii() and digits.isdigit() and int(digits) >= 1
        ):
            raise InvalidInput(
                "page: a page number (1 or more) or 'last'.",
                details={"page": ["A page number (1 or more) or 'last'."]},
            )
        return number
