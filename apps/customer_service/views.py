from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.roles import operator_required


@operator_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "customer_service/index.html")
