from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class TokenObtainApi(APIView):
    """Exchange a username and password for the user's API token (DRF's token model)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=AuthTokenSerializer, responses={200: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = AuthTokenSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)  # a failed sign-in fires user_login_failed (audited)
        user = data.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        # A token sign-in is a sign-in: the audit trail records it like a browser login.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response({"token": token.key})


class HealthApi(APIView):
    """Liveness: the web process answers and reaches its database."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok"})
